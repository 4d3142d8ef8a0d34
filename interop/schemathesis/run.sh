#!/usr/bin/env bash
# Schema fuzzing of the management API (issue 5; docs/security.md case 84) with schemathesis (PyPI):
# it reads the server's own OpenAPI document (/api/v1/openapi.json) and sends generated valid
# and invalid requests to every operation, checking that no answer is a 5xx and that every
# answer (status, content type, body) matches the document.
#
#   bash interop/schemathesis/run.sh [PATH-TO-portcullis-BINARY]
#
# The binary is the argument, else $PORTCULLIS_BIN, else ${CARGO_TARGET_DIR:-target}/debug/portcullis.
# schemathesis is installed into a virtualenv at $SCHEMATHESIS_VENV (default
# /var/tmp/portcullis-schemathesis), pinned below. Loopback only, a throw-away in-memory
# database (`portcullis dev`), bounded examples per operation; always stops the server.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

SCHEMATHESIS_VERSION="4.32.5"
venv="${SCHEMATHESIS_VENV:-/var/tmp/portcullis-schemathesis}"
examples="${SCHEMATHESIS_MAX_EXAMPLES:-25}"

bin="${1:-${PORTCULLIS_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/portcullis}}"
if [ ! -x "$bin" ]; then
  echo "schemathesis: $bin is not an executable portcullis binary (cargo build -p portcullis-server)" >&2
  exit 2
fi

# --- schemathesis ----------------------------------------------------------------------------
if ! "$venv/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
  echo "schemathesis: installing schemathesis==$SCHEMATHESIS_VERSION into $venv"
  python3 -m venv "$venv"
  timeout 600 "$venv/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi

# --- the server ------------------------------------------------------------------------------
work="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-schemathesis.XXXXXX")"
server_pid=""
cleanup() {
  local rc=$?
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 1 50); do
      kill -0 "$server_pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ "$rc" -ne 0 ] && [ -s "$work/server.log" ]; then
    echo "--- server log (last 40 lines) ---" >&2
    tail -n 40 "$work/server.log" >&2 || true
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
base="http://localhost:$port"
RUST_LOG="${RUST_LOG:-warn}" NO_COLOR=1 "$bin" dev --bind "127.0.0.1:$port" >"$work/server.log" 2>&1 &
server_pid=$!
deadline=$((SECONDS + 30))
until curl -fsS --max-time 2 "$base/healthz" >/dev/null 2>&1; do
  kill -0 "$server_pid" 2>/dev/null || { echo "schemathesis: the server exited" >&2; exit 1; }
  [ "$SECONDS" -lt "$deadline" ] || { echo "schemathesis: the server was not healthy in 30s" >&2; exit 1; }
  sleep 0.2
done

# A management token with every scope (the dev tenant's demo-admin application).
token="$(curl -fsS -u demo-admin:demo-admin-secret-change-me-0123456789 \
  -d grant_type=client_credentials -d "audience=$base/api" "$base/oauth2/token" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')"

echo "schemathesis: fuzzing $base/api/v1 ($examples examples per operation)"
# Client-side rate limits do not apply to the management API; the generated data never
# leaves loopback.
timeout 1200 "$venv/bin/schemathesis" --no-color run "$base/api/v1/openapi.json" \
  --url "$base" \
  --header "Authorization: Bearer $token" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --max-examples "$examples" \
  --seed 1 \
  "${@:2}"
