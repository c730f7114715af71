#!/usr/bin/env bash
# The store's speed targets (issue 3), end to end with the release binary:
#   bench/store_bench.sh LOANS [ARREARS_BIN]
# generates a portfolio, then times: the file-mode run; a full import into SQLite and into
# PostgreSQL (and plain `psql \copy` of the same CSV files, bench/pg_copy_baseline.sh); the
# daily run from each store; a daily feed of 10,000 payments into each store.
set -euo pipefail
loans=${1:-1000000}
bin=${2:-target/release/arrears}
work=${WORK:-/var/tmp/arrears-store-bench}
admin=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$work"
p="$work/p$loans"
[ -f "$p/loans.csv" ] || "$bin" generate --loans "$loans" --seed 1 --out "$p" >/dev/null
t() { local what=$1; shift; /usr/bin/time -f "$what: %e s wall, %M KB peak RSS, %P CPU" "$@" >/dev/null; }

# A daily feed: 10,000 new payments on the first 10,000 loans.
feed="$work/feed10k"
mkdir -p "$feed"
awk -F, 'NR==1{for(i=1;i<=NF;i++) if($i=="loan_id") c=i; print "payment_id,loan_id,received_at,amount_minor"; next}
         NR<=10001{printf "FEED-%d,%s,2026-11-29T10:00:00+08:00,1000\n", NR, $c}' "$p/loans.csv" > "$feed/payments.csv"

t "file run" "$bin" run --portfolio "$p" --as-of 2026-11-28 --out "$work/out-file" --format csv --quiet

rm -f "$work/s.db" "$work/s.db-wal" "$work/s.db-shm"
t "sqlite import" "$bin" import --portfolio "$p" --db "$work/s.db" --rejects /dev/null --quiet
t "sqlite store run" "$bin" run --db "$work/s.db" --as-of 2026-11-28 --quiet
t "sqlite feed 10k payments" "$bin" import --portfolio "$feed" --db "$work/s.db" --rejects /dev/null --quiet

db=arrears_store_bench
psql "$admin" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" 2>/dev/null
url="${admin%/*}/$db"
t "postgres import" "$bin" import --portfolio "$p" --db "$url" --rejects /dev/null --quiet
t "postgres store run" "$bin" run --db "$url" --as-of 2026-11-28 --quiet
t "postgres feed 10k payments" "$bin" import --portfolio "$feed" --db "$url" --rejects /dev/null --quiet
psql "$admin" -qc "DROP DATABASE $db"
"$here/pg_copy_baseline.sh" "$p" "$admin" 2>/dev/null
