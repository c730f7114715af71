#!/usr/bin/env bash
# The soak (issue 16): SECONDS (default 600) of mixed API and page traffic under wrk against a
# live `arrears serve` over the demo's SQLite store, the server's RSS sampled every 10 s.
#   bench/soak.sh [SECONDS] [ARREARS_BIN]
# ARREARS_BIN defaults to the debug build ($CARGO_TARGET_DIR/debug/arrears); copy it first
# (e.g. to /var/tmp/soak-arrears) so that a build does not replace it mid-run. The mix is in
# bench/soak.lua. Writes rss.csv (elapsed_s,rss_kib), wrk.txt and serve.log to OUT (default a
# new folder under /var/tmp) and fails on any answer that is not 2xx/3xx, any socket error,
# or an RSS at the end more than GROWTH_PCT (default 25) percent above the RSS after the
# first minute (the warm-up: caches fill, the day's plan is made).
# Run it at low priority on a shared machine: nice -n 10 bench/soak.sh.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
secs=${1:-600}
bin=${2:-${CARGO_TARGET_DIR:-$here/../target}/debug/arrears}
[ -x "$bin" ] || { echo "no arrears binary at $bin" >&2; exit 2; }
if ! command -v wrk >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
fi
out=${OUT:-$(mktemp -d /var/tmp/arrears-soak.XXXXXX)}
mkdir -p "$out"
work="$out/work"
rm -rf "$work"
mkdir -p "$work"
server=
sampler=
cleanup() {
  [ -n "$sampler" ] && kill "$sampler" 2>/dev/null || true
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

as_of=2026-11-28
"$bin" demo --dir "$work/demo" --loans "${LOANS:-2000}" --as-of "$as_of" --port 0 --no-serve >"$out/demo.log" 2>&1 ||
  { cat "$out/demo.log" >&2; exit 1; }
db="sqlite:$work/demo/arrears.db"
password=$(awk '/username: demo-agent/ {print $NF}' "$out/demo.log")
agent_loan=$(sed -n 's/.*loans assigned to demo-agent: \([^,]*\).*/\1/p' "$out/demo.log")
[ -n "$password" ] && [ -n "$agent_loan" ] || { echo "no agent or assigned loan in the demo's output" >&2; exit 1; }
# loan_id,borrower_id of every account; the commonest queue of the day's call tasks.
python3 - "$work/demo/out/accounts.csv" "$work/demo/plan/actions.csv" "$out/sample.csv" "$out/queue" <<'EOF'
import csv, sys, collections
with open(sys.argv[1]) as f, open(sys.argv[3], "w") as o:
    for r in csv.DictReader(f):
        o.write(f"{r['loan_id']},{r['borrower_id']}\n")
with open(sys.argv[2]) as f:
    q = collections.Counter(r["queue"] for r in csv.DictReader(f) if r.get("queue"))
open(sys.argv[4], "w").write(q.most_common(1)[0][0] if q else "none")
EOF
token=$("$bin" tokens create --name soak --scope contacts --scope events --scope read --db "$db")

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
RUST_LOG=${RUST_LOG:-warn} "$bin" serve --db "$db" --listen "127.0.0.1:$port" \
  --clock-from "${as_of}T12:00:00Z" >"$out/serve.log" 2>&1 &
server=$!
for _ in $(seq 300); do curl -fs "$base/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "$base/readyz" >/dev/null || { echo "the server did not get ready" >&2; cat "$out/serve.log" >&2; exit 1; }
# The agent signs in once; wrk sends the session cookie.
session=$(curl -s -o /dev/null -D - --data-urlencode "username=demo-agent" \
  --data-urlencode "password=$password" "$base/login" |
  sed -n 's/^[Ss]et-[Cc]ookie: \([^;]*\).*/\1/p' | head -1)
[ -n "$session" ] || { echo "the agent could not sign in" >&2; exit 1; }
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Cookie: $session" "$base/")
[ "$code" = 200 ] || { echo "the agent's desk (/) answered $code" >&2; exit 1; }

rss() { awk '/^VmRSS/ {print $2}' "/proc/$server/status"; }
start=$(date +%s)
echo "elapsed_s,rss_kib" >"$out/rss.csv"
(
  while kill -0 "$server" 2>/dev/null; do
    echo "$(( $(date +%s) - start )),$(rss)" >>"$out/rss.csv"
    sleep 10
  done
) &
sampler=$!
echo "soak: ${secs}s against $base ($(basename "$bin"), pid $server), RSS at start $(rss) KiB"
ARREARS_TOKEN=$token SESSION=$session AGENT_LOAN=$agent_loan QUEUE=$(cat "$out/queue") \
  AS_OF=$as_of SAMPLE=$out/sample.csv \
  wrk -t2 -c"${CONNS:-16}" -d"${secs}s" --timeout 10s --latency -s "$here/soak.lua" "$base" | tee "$out/wrk.txt"
sleep 1
echo "$(( $(date +%s) - start )),$(rss)" >>"$out/rss.csv"
kill "$sampler" 2>/dev/null || true
sampler=

n=$(($(wc -l <"$out/rss.csv") - 1))
at() { sed -n "$(( $1 + 1 ))p" "$out/rss.csv" | cut -d, -f2; }
first=$(at 1); mid=$(at $(( (n + 1) / 2 ))); last=$(at "$n")
warm=$(awk -F, 'NR > 1 && $1 >= 60 {print $2; exit}' "$out/rss.csv")
warm=${warm:-$first}
peak=$(awk -F, 'NR > 1 && $2 > m {m = $2} END {print m}' "$out/rss.csv")
echo "RSS KiB: start $first, after warm-up (60 s) $warm, middle $mid, end $last, peak $peak ($n samples in $out/rss.csv)"
status=0
unexpected=$(awk '/^unexpected:/ {print $2}' "$out/wrk.txt")
[ "${unexpected:-1}" = 0 ] || { echo "FAIL: $unexpected answers were not 2xx/3xx" >&2; status=1; }
grep -q "^Non-2xx or 3xx" "$out/wrk.txt" && { echo "FAIL: wrk counted non-2xx/3xx answers" >&2; status=1; }
grep -q "^  Socket errors" "$out/wrk.txt" && { echo "FAIL: socket errors" >&2; status=1; }
if [ "$last" -gt $(( warm * (100 + ${GROWTH_PCT:-25}) / 100 )) ]; then
  echo "FAIL: RSS grew from $warm to $last KiB after the warm-up" >&2; status=1
fi
if grep -qE 'panicked| ERROR ' "$out/serve.log"; then
  echo "FAIL: the server logged errors:" >&2; grep -E 'panicked| ERROR ' "$out/serve.log" | head >&2; status=1
fi
[ "$status" = 0 ] && echo "soak: PASS" || echo "soak: FAIL"
exit "$status"
