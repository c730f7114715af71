"""Runs bench/duckdb_daily_run.sql over a Parquet portfolio with DuckDB (2 threads) and
prints wall time and peak RSS. Usage:
    python3 bench/duckdb_bench.py --portfolio DIR --as-of 2026-11-28 --out DIR [--check ACCOUNTS.parquet]
--check compares every column but the penalty ones with Arrears' accounts.parquet."""
import argparse, os, resource, sys, time

import duckdb

ap = argparse.ArgumentParser()
ap.add_argument("--portfolio", required=True)
ap.add_argument("--as-of", required=True)
ap.add_argument("--out", required=True)
ap.add_argument("--threads", type=int, default=os.cpu_count())
ap.add_argument("--check")
a = ap.parse_args()
sql = open(os.path.join(os.path.dirname(__file__), "duckdb_daily_run.sql")).read()
sql = sql.replace("{dir}", a.portfolio).replace("{as_of}", a.as_of).replace("{out}", a.out)
os.makedirs(a.out, exist_ok=True)
t = time.perf_counter()
con = duckdb.connect()
con.execute(f"SET threads = {a.threads}")
con.execute(sql)
wall = time.perf_counter() - t
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(f"duckdb {duckdb.__version__}: {wall:.3f} s wall, {peak // 1024} MiB peak RSS", file=sys.stderr)
if a.check:
    cols = ("loan_id, status, dpd, bucket, stage, due_to_date_minor, paid_minor, overdue_minor, overdue_fee_minor, "
            "overdue_interest_minor, overdue_principal_minor, outstanding_principal_minor, oldest_unpaid_due_date, last_payment_date")
    diff = con.execute(f"""
        SELECT count(*) FROM (
          (SELECT {cols} FROM read_parquet('{a.out}/accounts_duckdb.parquet')
           EXCEPT ALL SELECT {cols} FROM read_parquet('{a.check}'))
          UNION ALL
          (SELECT {cols} FROM read_parquet('{a.check}')
           EXCEPT ALL SELECT {cols} FROM read_parquet('{a.out}/accounts_duckdb.parquet')))""").fetchone()[0]
    print(f"rows differing from {a.check}: {diff}", file=sys.stderr)
    sys.exit(1 if diff else 0)
