#!/usr/bin/env bash
# Schemathesis (PyPI) against the live API's own document, /v1/openapi.json (issue 16).
#   bench/schemathesis.sh [ARREARS_BIN]
# Makes a throwaway SQLite store with the demo's sample (`arrears demo --no-serve`: a
# generated portfolio imported, run and planned, users, a lender policy), a signing key and
# an audit log, a token with every scope, then serves it on a free loopback port and runs
# schemathesis with a bounded number of examples per operation. Fails (non-zero) on any 5xx
# answer or any answer that breaks the document's schema (status, content type, body).
#
# Environment: EXAMPLES (per operation and phase, default 40), SEED (default 1, so that a
# failure can be replayed), ST_VENV (where schemathesis is installed when absent, default
# /var/tmp/arrears-schemathesis-$VERSION), CHECKS (default below), KEEP=1 keeps the folder.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=${1:-${CARGO_TARGET_DIR:-$here/../target}/debug/arrears}
[ -x "$bin" ] || { echo "no arrears binary at $bin (cargo build -p arrears-cli)" >&2; exit 2; }
version=4.32.5
venv=${ST_VENV:-/var/tmp/arrears-schemathesis-$version}
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$version"; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "schemathesis==$version"
fi

work=$(mktemp -d /var/tmp/arrears-schemathesis.XXXXXX)
server=
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
  if [ "${KEEP:-0}" = 1 ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT

as_of=2026-11-28
"$bin" demo --dir "$work/demo" --loans 200 --as-of "$as_of" --port 0 --no-serve >"$work/demo.log" 2>&1 ||
  { cat "$work/demo.log" >&2; exit 1; }
db="sqlite:$work/demo/arrears.db"
"$bin" keys init --dir "$work/keys" >/dev/null
token=$("$bin" tokens create --name schemathesis --scope contacts --scope events --scope work \
  --scope read --scope admin --db "$db")

# A free port: bind port 0, read what the kernel gave, let it go.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
"$bin" serve --db "$db" --listen "127.0.0.1:$port" --clock-from "${as_of}T12:00:00Z" \
  --keys "$work/keys" --audit-log "$work/audit.jsonl" >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 300); do curl -fs "$base/readyz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fs "$base/readyz" >/dev/null || { echo "the server did not get ready" >&2; cat "$work/serve.log" >&2; exit 1; }

checks=${CHECKS:-not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance}
status=0
# From the throwaway folder: schemathesis keeps its state in ./.schemathesis.
cd "$work"
"$venv/bin/schemathesis" run "$base/v1/openapi.json" \
  --url "$base" \
  -H "Authorization: Bearer $token" \
  --checks "$checks" \
  --phases examples,coverage,fuzzing \
  --max-examples "${EXAMPLES:-40}" \
  --seed "${SEED:-1}" \
  --workers 1 \
  --request-timeout 20 \
  --generation-database none \
  --no-color \
  --report junit --report-dir "$work/report" ||
  status=$?
if grep -q '"status":5[0-9][0-9]' "$work/serve.log"; then
  echo "the server logged 5xx answers:" >&2
  grep '"status":5[0-9][0-9]' "$work/serve.log" | head -20 >&2
  status=1
fi
if grep -qiE 'panicked|ERROR' "$work/serve.log"; then
  echo "the server logged errors:" >&2
  grep -iE 'panicked|ERROR' "$work/serve.log" | head -20 >&2
  status=1
fi
echo "schemathesis: exit $status"
exit "$status"
