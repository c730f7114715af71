#!/usr/bin/env bash
# The plan with the lifecycle tables against the daily run (docs/performance.md, "One system:
# the plan with the lifecycle tables").
#
#   bench/lifecycle_plan_bench.sh [BIN] [ROUNDS]
#
# BIN: the release binary (default $CARGO_TARGET_DIR/release/arrears). Everything heavy goes
# under $WORK (default /var/tmp/lc-bench):
#   p1m           `arrears generate --loans 1000000 --seed 7` (no lifecycle tables)
#   p1m-lifecycle p1m's tables (links) + bench/lifecycle_tables.py's tables
# a signing key, a lender policy (approved agencies AG-1..AG-5, limitation periods) and one
# output folder per run. Then ROUNDS times (default 3), one after the other: `arrears run` and
# `arrears plan` on p1m, the same on p1m-lifecycle; each under /usr/bin/time -v (wall,
# user+sys CPU, peak RSS). Every plan uses the same policy and --keys, as the earlier plan
# measurements did. Prints one line per run and the plan's phases from plan_summary.json.
# SOURCES="p1m p1m-lifecycle" picks the folders (p1m-lc-safe: the tables made with
# lifecycle_tables.py --no-gate-notices).
set -uo pipefail
BIN=${1:-${CARGO_TARGET_DIR:-target}/release/arrears}
ROUNDS=${2:-3}
WORK=${WORK:-/var/tmp/lc-bench}
AS_OF=${AS_OF:-2026-11-28}
HERE=$(cd "$(dirname "$0")" && pwd)
P=$WORK/p1m
mkdir -p "$WORK"

[ -f "$P/borrowers.csv" ] || "$BIN" generate --loans 1000000 --seed 7 --out "$P" || exit 1
SOURCES=${SOURCES:-p1m p1m-lifecycle}
for v in $SOURCES; do
  [ "$v" = p1m ] && continue
  d=$WORK/$v
  [ -f "$d/notices.csv" ] && continue
  mkdir -p "$d"
  for f in "$P"/*.csv; do ln -sf "$f" "$d/$(basename "$f")"; done
  extra=(); [ "$v" = p1m-lc-safe ] && extra=(--no-gate-notices)
  python3 "$HERE/lifecycle_tables.py" "$P" "$d" --as-of "$AS_OF" --seed 7 "${extra[@]}" || exit 1
done
cat > "$WORK/policy.toml" <<'TOML'
[policy]
name = "bench-lifecycle"
approved_agencies = ["AG-1", "AG-2", "AG-3", "AG-4", "AG-5"]
[limitation_years]
US = 6
"US-NY" = 3
TOML
[ -d "$WORK/keys" ] || "$BIN" keys init --dir "$WORK/keys" >/dev/null

measure() { # label, command...
  local label=$1; shift
  local out status
  /usr/bin/time -v -o "$WORK/last.time" "$@" >/dev/null 2>"$WORK/last.err"
  out=$(cat "$WORK/last.time")
  status=$(grep 'Exit status' <<<"$out" | awk '{print $NF}')
  local wall rss cpu user sys
  wall=$(grep 'Elapsed (wall clock)' <<<"$out" | awk '{print $NF}')
  rss=$(grep 'Maximum resident set size' <<<"$out" | awk '{print $NF}')
  cpu=$(grep 'Percent of CPU' <<<"$out" | awk '{print $NF}')
  user=$(grep 'User time' <<<"$out" | awk '{print $NF}')
  sys=$(grep 'System time' <<<"$out" | awk '{print $NF}')
  printf '%-24s wall %8s  user+sys %6.1f s  peak %5.2f GiB  cpu %5s  exit %s  load %s\n' \
    "$label" "$wall" "$(echo "$user + $sys" | bc -l)" "$(echo "$rss / 1048576" | bc -l)" \
    "$cpu" "$status" "$(cut -d' ' -f1-3 /proc/loadavg)"
  [ "$status" = 0 ] || sed 's/^/    /' "$WORK/last.err" | head -5
}

phases() { # plan output folder
  [ -f "$1/plan_summary.json" ] || return 0
  python3 - "$1/plan_summary.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print("    phases:", ", ".join(f"{k} {v:.1f} s" for k, v in s["seconds"].items()),
      f"| actions {s['actions']}, blocked {s['blocked']}, lifecycle rejects {s['extension_rejects']}")
PY
}

for r in $(seq 1 "$ROUNDS"); do
  for src in $SOURCES; do
    dir=$WORK/$src
    rm -rf "$WORK/out-run-$src-$r" "$WORK/out-plan-$src-$r"
    measure "run  $src #$r" "$BIN" run --portfolio "$dir" --as-of "$AS_OF" \
      --out "$WORK/out-run-$src-$r" --quiet
    measure "plan $src #$r" "$BIN" plan --portfolio "$dir" --as-of "$AS_OF" \
      --out "$WORK/out-plan-$src-$r" --policy "$WORK/policy.toml" --keys "$WORK/keys" --quiet
    phases "$WORK/out-plan-$src-$r"
  done
done
