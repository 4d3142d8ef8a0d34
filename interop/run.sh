#!/usr/bin/env bash
# Interop suite: drives a real `portcullis serve` with peers no one here wrote (today: the
# OpenID-certified relying party `openid-client` from npm, and headless Chromium on the hosted
# pages).
#
#   bash interop/run.sh [PATH-TO-portcullis-BINARY]
#
# Builds nothing: the binary is the argument, else $PORTCULLIS_BIN, else
# ${CARGO_TARGET_DIR:-target}/debug/portcullis, else `cargo run -q -p portcullis-server --`.
# Loopback only, a throw-away SQLite file, every step bounded in time; exits non-zero on any
# failure and always stops the server it started.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
cd "$root"

# --- the server binary -----------------------------------------------------------------------
bin="${1:-${PORTCULLIS_BIN:-}}"
if [ -z "$bin" ]; then
  candidate="${CARGO_TARGET_DIR:-$root/target}/debug/portcullis"
  [ -x "$candidate" ] && bin="$candidate"
fi
if [ -n "$bin" ]; then
  if [ ! -x "$bin" ]; then
    echo "interop: $bin is not an executable portcullis binary" >&2
    exit 2
  fi
  server_cmd=("$bin")
else
  server_cmd=(cargo run -q -p portcullis-server --bin portcullis --)
fi

for tool in node npm curl; do
  command -v "$tool" >/dev/null || { echo "interop: $tool is required" >&2; exit 2; }
done

# --- scratch space and cleanup ---------------------------------------------------------------
work="$(mktemp -d "${TMPDIR:-/tmp}/portcullis-interop.XXXXXX")"
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
    echo "--- server log (last 60 lines) ---" >&2
    tail -n 60 "$work/server.log" >&2 || true
  fi
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- a free loopback port --------------------------------------------------------------------
port="$(node -e '
  const s = require("net").createServer();
  s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });
')"
issuer="http://127.0.0.1:$port"

# --- the server ------------------------------------------------------------------------------
echo "interop: starting ${server_cmd[*]} serve on $issuer"
RUST_LOG="${RUST_LOG:-info,sqlx=warn}" NO_COLOR=1 \
  "${server_cmd[@]}" serve \
  --issuer "$issuer" \
  --bind "127.0.0.1:$port" \
  --database "sqlite://$work/portcullis.db" \
  --seed "$root/crates/portcullis-server/examples/tenant.toml" \
  >"$work/server.log" 2>&1 &
server_pid=$!

# `cargo run` may still be compiling: allow longer for it than for a ready binary.
if [ -n "$bin" ]; then wait_s=30; else wait_s=600; fi
deadline=$((SECONDS + wait_s))
until curl -fsS --max-time 2 "$issuer/healthz" >/dev/null 2>&1; do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "interop: the server exited before becoming healthy" >&2
    exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "interop: the server was not healthy within ${wait_s}s" >&2
    exit 1
  fi
  sleep 0.2
done
echo "interop: server healthy"

# --- the peers -------------------------------------------------------------------------------
# node_modules is gitignored; the committed package-lock.json pins every package.
(cd "$here" && timeout 300 npm ci --no-audit --no-fund --loglevel=error)

echo "interop: openid-client"
PORTCULLIS_ISSUER="$issuer" timeout 120 node "$here/openid-client.mjs"

# The hosted pages in headless Chromium (Debian `chromium`; override with $CHROMIUM).
echo "interop: browser (headless Chromium)"
PORTCULLIS_ISSUER="$issuer" timeout 180 node "$here/browser.mjs"
