#!/usr/bin/env bash
# Side-by-side benchmark of the daily run: Arrears vs DuckDB over the same Parquet portfolio.
#   bench/compare.sh 1000000 [2026-11-28]
# Generates the portfolio once (cached under $BENCH_DIR), then runs each engine 3 times,
# reporting wall time (s) and peak RSS (MiB) from /usr/bin/time. Needs: python3 -m pip install duckdb.
set -euo pipefail
loans="${1:-1000000}"
as_of="${2:-2026-11-28}"
root="$(cd "$(dirname "$0")/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/arrears-target}"
bench_dir="${BENCH_DIR:-/var/tmp/arrears-bench}"
portfolio="$bench_dir/p$loans"
out="$bench_dir/out$loans"
cargo build --release -q -p arrears-cli --manifest-path "$root/Cargo.toml"
bin="$CARGO_TARGET_DIR/release/arrears"
if [ ! -f "$portfolio/loans.parquet" ]; then
  "$bin" generate --loans "$loans" --seed 1 --format parquet --out "$portfolio"
fi
mkdir -p "$out"
measure() { # name, command...
  local name=$1; shift
  for i in 1 2 3; do
    /usr/bin/time -f "$name run $i: %e s wall, %M KiB peak RSS, %P CPU" "$@" >/dev/null 2>"$out/time.txt" || { cat "$out/time.txt"; exit 1; }
    tail -n 1 "$out/time.txt"
  done
}
echo "portfolio: $loans loans ($(du -sh "$portfolio" | cut -f1) of Parquet) as of $as_of, $(nproc) cores"
measure arrears "$bin" run --portfolio "$portfolio" --as-of "$as_of" --out "$out" --format parquet --quiet
measure duckdb python3 "$root/bench/duckdb_bench.py" --portfolio "$portfolio" --as-of "$as_of" --out "$out"
