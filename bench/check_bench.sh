#!/usr/bin/env bash
# The service's speed targets (issue 5): POST /v1/contacts/check and POST /v1/events under wrk
# on loopback, against a PostgreSQL store holding about 1M borrowers.
#   bench/check_bench.sh [ARREARS_BIN] [LOANS]
# Generates LOANS loans (1,200,000 gives about 1M borrowers), imports them into a fresh
# PostgreSQL database (kept between runs: delete it with DROP DATABASE arrears_check_bench),
# starts `arrears serve`, and runs wrk for SECS (30) s per route with CONNS (32) connections.
set -euo pipefail
bin=${1:-target/release/arrears}
loans=${2:-1200000}
work=${WORK:-/var/tmp/arrears-check-bench}
admin=${PG_ADMIN:-postgres://postgres@127.0.0.1:5432/postgres}
db=arrears_check_bench
url="${admin%/*}/$db"
here=$(cd "$(dirname "$0")" && pwd)
port=${PORT:-18080}
mkdir -p "$work"
p="$work/p$loans"
[ -f "$p/loans.csv" ] || "$bin" generate --loans "$loans" --seed 1 --out "$p" >/dev/null
if ! psql "$admin" -qAtc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
  psql "$admin" -qc "CREATE DATABASE $db"
  /usr/bin/time -f "import: %e s" "$bin" import --portfolio "$p" --db "$url" --rejects /dev/null --quiet
fi
borrowers=$(psql "$url" -qAtc "SELECT count(*) FROM borrowers")
# For outbound calls: each borrower's own phone and 10:00 on 2026-11-30 in their time zone.
[ -f "$work/outbound.csv" ] || psql "$url" -qc "\\copy (SELECT borrower_id, phone, to_char(((DATE '2026-11-30' + TIME '10:00') AT TIME ZONE COALESCE(timezone, 'UTC')) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM borrowers WHERE phone IS NOT NULL ORDER BY borrower_id) TO '$work/outbound.csv' CSV"
token=$("$bin" tokens create --name "bench-$(date +%s%N)" --scope contacts --scope events --db "$url")
"$bin" serve --db "$url" --listen "127.0.0.1:$port" --preload-facts ${SERVE_ARGS:-} >"$work/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null || true' EXIT
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/readyz" >/dev/null && break; sleep 0.1; done
# The facts cache preloads every borrower in the background: wait for it (at most 5 minutes).
for _ in $(seq 300); do grep -q "facts cache preloaded" "$work/serve.log" && break; sleep 1; done
grep "facts cache" "$work/serve.log" | tail -2 || true
echo "borrowers: $borrowers; $(nproc) cores; load before: $(cut -d' ' -f1-3 /proc/loadavg)"
export ARREARS_TOKEN=$token BORROWERS=$borrowers OUTBOUND=$work/outbound.csv
# ROUTES picks the routes to measure (default all four, in this order).
routes=${ROUTES:-check events contacts outbound}
# CPU time (clock ticks) of a process, and of every PostgreSQL process together.
ticks() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12 + $13}' || echo 0; }
pg_ticks() { local t=0 p; for p in $(pgrep -u postgres); do t=$((t + $(ticks "$p"))); done; echo "$t"; }
# A measured run, then the CPU each side spent per 1,000 answered requests (steadier than
# requests/s on a busy machine: it does not depend on what else gets the cores).
run() {
  local s0 p0 out n
  s0=$(ticks $server); p0=$(pg_ticks)
  out=$(wrk -t2 -c${CONNS:-32} -d${SECS:-30}s --latency -s "$here/$1" "http://127.0.0.1:$port")
  echo "$out"
  n=$(echo "$out" | awk '/requests in/ {print $1}')
  awk -v s=$(( $(ticks $server) - s0 )) -v p=$(( $(pg_ticks) - p0 )) -v n="$n" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { if (n > 0) printf "CPU per 1,000 requests: server %.0f ms, PostgreSQL %.0f ms\n", s * 1e6 / hz / n, p * 1e6 / hz / n }'
}
# Warm-up, then the measured run.
wrk -t2 -c${CONNS:-32} -d5s -s "$here/check.lua" "http://127.0.0.1:$port" >/dev/null
for r in $routes; do
  case $r in
    check) echo "== POST /v1/contacts/check"; run check.lua ;;
    events) echo "== POST /v1/events"; run events.lua ;;
    contacts) echo "== POST /v1/events (contact events)"; run contact_events.lua ;;
    outbound) echo "== POST /v1/contacts (outbound calls, decided under the lock)"; run outbound_events.lua ;;
    *) echo "unknown route $r (check, events, contacts, outbound)" >&2; exit 2 ;;
  esac
done
