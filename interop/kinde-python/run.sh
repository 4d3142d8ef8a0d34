#!/usr/bin/env bash
# Interop suite: Kinde's own Python SDK (kinde-python-sdk from PyPI, pinned below) against a real
# `portcullis serve`, used as a new user following Kinde's docs would: the management API
# through the SDK's generated client (ManagementClient), introspection as the SDK does it
# (Authorization: Bearer <its management token>), logout URLs built by its OAuth client, and the
# authorization-code flow (the SDK's login URL, the hosted sign-in page submitted as a plain
# HTML form, the SDK's code exchange and claims). See test_kinde_sdk.py.
#
#   bash interop/kinde-python/run.sh [PATH-TO-portcullis-BINARY]
#
# The binary is the argument, else $PORTCULLIS_BIN, else ${CARGO_TARGET_DIR:-target}/debug/portcullis.
# The SDK is installed into a virtualenv at $KINDE_PYTHON_VENV (default
# /var/tmp/portcullis-kinde-python). Loopback only, a throw-away SQLite file, every step bounded
# in time; exits non-zero on any failure and always stops what it started.
#
# https: the SDK's ManagementClient and ManagementTokenManager build every URL as
# `https://{domain}/...` (and ask for the audience `https://{domain}/api`), so the issuer must be
# https. The server runs as it would behind a TLS-terminating reverse proxy: plain HTTP on a
# loopback port, `--issuer https://127.0.0.1:FRONT`, and tls_front.py (a byte-for-byte TLS
# terminator with a CA made for this run) on FRONT. The SDK trusts that CA through
# SSL_CERT_FILE and REQUESTS_CA_BUNDLE, as a deployment with a private CA would; no SDK code
# is patched.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$root"

KINDE_PYTHON_SDK_VERSION="2.4.0"
venv="${KINDE_PYTHON_VENV:-/var/tmp/portcullis-kinde-python}"

# --- the server binary -----------------------------------------------------------------------
bin="${1:-${PORTCULLIS_BIN:-${CARGO_TARGET_DIR:-$root/target}/debug/portcullis}}"
if [ ! -x "$bin" ]; then
  echo "kinde-python: $bin is not an executable portcullis binary (cargo build -p portcullis-server)" >&2
  exit 2
fi
for tool in python3 curl; do
  command -v "$tool" >/dev/null || { echo "kinde-python: $tool is required" >&2; exit 2; }
done
# tomllib (the test reads the seed file) is in the standard library from 3.11.
python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
  { echo "kinde-python: Python 3.11 or newer is required" >&2; exit 2; }

# --- the SDK ---------------------------------------------------------------------------------
installed() {
  "$venv/bin/python" -c 'import importlib.metadata as m, sys
sys.exit(m.version("kinde-python-sdk") != sys.argv[1])' "$KINDE_PYTHON_SDK_VERSION" 2>/dev/null
}
if ! installed; then
  echo "kinde-python: installing kinde-python-sdk==$KINDE_PYTHON_SDK_VERSION into $venv"
  rm -rf "$venv"
  timeout 120 python3 -m venv "$venv"
  timeout 600 "$venv/bin/pip" install -q --disable-pip-version-check \
    "kinde-python-sdk==$KINDE_PYTHON_SDK_VERSION"
  installed || { echo "kinde-python: the install did not give kinde-python-sdk $KINDE_PYTHON_SDK_VERSION" >&2; exit 1; }
fi

# --- scratch space and cleanup ---------------------------------------------------------------
work="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-kinde-python.XXXXXX")"
server_pid=""
front_pid=""
stop() {
  local pid="$1"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  stop "$server_pid"
  stop "$front_pid"
  if [ "$rc" -ne 0 ]; then
    for log in server front; do
      if [ -s "$work/$log.log" ]; then
        echo "--- $log log (last 40 lines) ---" >&2
        tail -n 40 "$work/$log.log" >&2 || true
      fi
    done
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- the TLS front, then the server behind it ------------------------------------------------
backend_port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')"
PYTHONDONTWRITEBYTECODE=1 "$venv/bin/python" "$here/tls_front.py" "$work" "$backend_port" \
  >"$work/front.log" 2>&1 &
front_pid=$!
deadline=$((SECONDS + 15))
until [ -s "$work/front.port" ]; do
  kill -0 "$front_pid" 2>/dev/null || { echo "kinde-python: the TLS front exited" >&2; exit 1; }
  [ "$SECONDS" -lt "$deadline" ] || { echo "kinde-python: the TLS front did not start in 15s" >&2; exit 1; }
  sleep 0.1
done
front_port="$(cat "$work/front.port")"
issuer="https://127.0.0.1:$front_port"

echo "kinde-python: starting $bin serve on 127.0.0.1:$backend_port, issuer $issuer (TLS front)"
RUST_LOG="${RUST_LOG:-info,sqlx=warn}" NO_COLOR=1 \
  "$bin" serve \
  --issuer "$issuer" \
  --bind "127.0.0.1:$backend_port" \
  --database "sqlite://$work/portcullis.db" \
  --seed "$here/tenant.toml" \
  >"$work/server.log" 2>&1 &
server_pid=$!

deadline=$((SECONDS + 30))
until curl -fsS --max-time 2 --cacert "$work/ca.pem" "$issuer/healthz" >/dev/null 2>&1; do
  kill -0 "$server_pid" 2>/dev/null || { echo "kinde-python: the server exited before becoming healthy" >&2; exit 1; }
  [ "$SECONDS" -lt "$deadline" ] || { echo "kinde-python: the server was not healthy within 30s" >&2; exit 1; }
  sleep 0.2
done
echo "kinde-python: server healthy; running test_kinde_sdk.py with kinde-python-sdk $KINDE_PYTHON_SDK_VERSION"

# --- the suite -------------------------------------------------------------------------------
KPY_ISSUER="$issuer" KPY_SEED="$here/tenant.toml" \
  SSL_CERT_FILE="$work/ca.pem" REQUESTS_CA_BUNDLE="$work/ca.pem" \
  NO_PROXY="127.0.0.1,localhost" no_proxy="127.0.0.1,localhost" \
  PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
  timeout 300 "$venv/bin/python" "$here/test_kinde_sdk.py"
