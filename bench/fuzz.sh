#!/usr/bin/env bash
# Fuzzes the files and bodies Arrears reads from outside for a bounded time per target:
#
#   bench/fuzz.sh [SECONDS-PER-TARGET] [TARGET...]     (default 600 s, every target)
#
# Targets (fuzz/fuzz_targets): csv_portfolio, parquet_portfolio, strategy_file, policy_file,
# api_bodies. Builds the fuzz crate (its own workspace, fuzz/) with cargo-fuzz into its own
# target dir, seeds each corpus from the repo's sample data and tests, then runs the targets
# one after another, each for the bounded time, at nice 19 and one process (one fuzzing job,
# RAYON_NUM_THREADS=1): others compile on this machine.
#
# The run goes on past a crash (libFuzzer -fork=1 -ignore_crashes=1 -ignore_ooms=1
# -ignore_timeouts=1) so that every target gets its time; every crashing input is kept in
# fuzz/artifacts/TARGET/ and the script exits 1 if any target left a new one. Set
# ARREARS_FUZZ_STOP_ON_CRASH=1 to stop a target at its first crash instead.
#
# Needs cargo-fuzz (`cargo install cargo-fuzz`). cargo-fuzz passes nightly-only flags to
# rustc; on a stable toolchain they are allowed with RUSTC_BOOTSTRAP=1 (set here unless the
# active toolchain is a nightly).
#
# Environment: ARREARS_FUZZ_TARGET_DIR (default /var/tmp/arrears-fuzz-target),
# ARREARS_FUZZ_BUILD_JOBS (default 1), ARREARS_FUZZ_TIMEOUT (seconds one input may take,
# default 20), ARREARS_FUZZ_RSS_MB (default 2048).
set -uo pipefail

secs=${1:-600}
shift || true
all=(csv_portfolio parquet_portfolio strategy_file policy_file api_bodies)
if [ $# -gt 0 ]; then targets=("$@"); else targets=("${all[@]}"); fi
case "$secs" in '' | *[!0-9]*) echo "fuzz.sh: seconds must be a number, got $secs" >&2; exit 2 ;; esac

root=$(cd "$(dirname "$0")/.." && pwd)
fuzz=$root/fuzz
target_dir=${ARREARS_FUZZ_TARGET_DIR:-/var/tmp/arrears-fuzz-target}
export CARGO_BUILD_JOBS=${ARREARS_FUZZ_BUILD_JOBS:-1}
export RAYON_NUM_THREADS=1
if ! rustc --version | grep -q nightly; then export RUSTC_BOOTSTRAP=1; fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz.sh: cargo-fuzz is missing: cargo install cargo-fuzz" >&2
    exit 2
fi
# No sanitizer (safe Rust: the bugs to find are panics, overflows, OOMs and hangs, which
# libFuzzer catches itself) and debug assertions on (integer overflow panics).
flags=(-s none -a --target-dir "$target_dir")

cd "$root" || exit 2
echo "== build ($(date -u +%H:%M:%S))"
if ! nice -n 19 cargo fuzz build "${flags[@]}"; then
    echo "fuzz.sh: build failed" >&2
    exit 2
fi
bin=$target_dir/x86_64-unknown-linux-gnu/release

# ---- seed corpora (named by content hash: reseeding adds no duplicates) ----------------
put() { # put TARGET FILE [PREFIX-BYTE-DECIMAL]
    local dir=$fuzz/corpus/$1 tmp
    mkdir -p "$dir"
    tmp=$(mktemp)
    if [ -n "${3:-}" ]; then printf "\\$(printf '%03o' "$3")" >"$tmp"; else : >"$tmp"; fi
    cat "$2" >>"$tmp"
    mv "$tmp" "$dir/seed-$(sha1sum "$tmp" | cut -c1-16)"
}
tables=(borrowers loans installments payments contacts promises notices preferences
    payment_plans plan_installments placements sales credit_disputes legal_cases contact_persons)
seed() {
    case "$1" in
    csv_portfolio)
        for i in "${!tables[@]}"; do
            for f in "$root"/crates/*/tests/data/*/portfolio/"${tables[$i]}".csv \
                "$root"/tests/cases/*/"${tables[$i]}".csv "$fuzz/seeds/${tables[$i]}.csv"; do
                [ -f "$f" ] && put csv_portfolio "$f" "$i"
            done
        done
        ;;
    parquet_portfolio)
        mkdir -p "$fuzz/corpus/parquet_portfolio"
        ARREARS_FUZZ_PARQUET_SEEDS=$fuzz/corpus/parquet_portfolio \
            "$bin/parquet_portfolio" -runs=0 "$fuzz/corpus/parquet_portfolio" >/dev/null 2>&1
        ;;
    strategy_file)
        for f in "$root"/crates/arrears-strategy/strategies/*.toml \
            "$root"/crates/arrears-strategy/tests/strategies/*.toml; do
            put strategy_file "$f"
        done
        ;;
    policy_file)
        for f in "$root"/crates/*/tests/data/*/policy.toml "$root"/crates/arrears-policy/packs/*.toml; do
            put policy_file "$f"
        done
        # The policies the engine's and the planner's test cases embed (`policy = """…"""`).
        python3 - "$root" "$fuzz/corpus/policy_file" <<'EOF'
import glob, hashlib, os, sys, tomllib
root, out = sys.argv[1], sys.argv[2]
for p in sorted(glob.glob(f"{root}/crates/*/tests/*/*.toml")):
    try:
        doc = tomllib.load(open(p, "rb"))
    except Exception:
        continue
    texts = [doc.get("policy")] + [c.get("policy") for c in doc.get("case", []) if isinstance(c, dict)]
    for t in texts:
        if isinstance(t, str):
            b = t.encode()
            open(os.path.join(out, "seed-" + hashlib.sha1(b).hexdigest()[:16]), "wb").write(b)
EOF
        ;;
    api_bodies)
        for f in "$fuzz"/seeds/api/*.json; do put api_bodies "$f"; done
        ;;
    esac
}

# ---- runs ------------------------------------------------------------------------------
status=0
summary=()
for t in "${targets[@]}"; do
    if [ ! -x "$bin/$t" ]; then echo "fuzz.sh: no target $t" >&2; exit 2; fi
    seed "$t"
    art=$fuzz/artifacts/$t
    mkdir -p "$art"
    marker=$(mktemp)
    log=$fuzz/logs/$t.log
    mkdir -p "$fuzz/logs"
    if [ "${ARREARS_FUZZ_STOP_ON_CRASH:-0}" = 1 ]; then
        mode=()
    else
        mode=(-fork=1 -ignore_crashes=1 -ignore_ooms=1 -ignore_timeouts=1)
    fi
    echo "== $t: ${secs}s ($(date -u +%H:%M:%S)), log $log"
    start=$(date +%s)
    # The binary directly (what `cargo fuzz run` would run after the build above).
    nice -n 19 "$bin/$t" "$fuzz/corpus/$t" -artifact_prefix="$art/" \
        -max_total_time="$secs" -timeout="${ARREARS_FUZZ_TIMEOUT:-20}" \
        -rss_limit_mb="${ARREARS_FUZZ_RSS_MB:-2048}" -print_final_stats=1 "${mode[@]}" \
        >"$log" 2>&1
    rc=$?
    took=$(($(date +%s) - start))
    # The last status line: "#EXECS ... cov: C ft: F corp: N/SIZE ...".
    last=$(grep -E '^#[0-9]+' "$log" | grep 'cov:' | tail -1)
    execs=$(sed -E 's/^#([0-9]+).*/\1/' <<<"$last")
    cov=$(sed -nE 's/.*cov: ([0-9]+).*/\1/p' <<<"$last")
    ft=$(sed -nE 's/.*ft: ([0-9]+).*/\1/p' <<<"$last")
    corpus=$(find "$fuzz/corpus/$t" -type f | wc -l)
    crashes=$(find "$art" -type f -newer "$marker" | wc -l)
    line=$(printf '%-18s %6ss %12s execs  cov %6s  ft %6s  corpus %6s  new crashes %s (rc %s)' \
        "$t" "$took" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$corpus" "$crashes" "$rc")
    echo "$line"
    summary+=("$line")
    if [ "$crashes" -gt 0 ] || [ "$rc" -ne 0 ]; then
        status=1
        find "$art" -type f -newer "$marker" | head -20
    fi
    rm -f "$marker"
done
echo "== summary ($(date -u +%H:%M:%S))"
printf '%s\n' "${summary[@]}"
exit $status
