#!/usr/bin/env bash
# Interop suite: drives a real `portcullis serve` with peers no one here wrote (today: the
# OpenID-certified relying party `openid-client` from npm, and headless Chromium on the hosted
# pages), twice: over plain HTTP, then over HTTPS (`--tls-cert`/`--tls-key`) with a certificate
# from a test CA made here with openssl, which openid-client trusts through
# NODE_EXTRA_CA_CERTS and Chromium through the certificate's key fingerprint.
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

for tool in node npm curl openssl; do
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

# --- the server ------------------------------------------------------------------------------
# A free loopback port.
free_port() {
  node -e '
    const s = require("net").createServer();
    s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });
  '
}

# Stops the server started last, if any.
stop_server() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  server_pid=""
}

# start_server ISSUER PORT [EXTRA serve ARGS...]: starts the server (a fresh SQLite file, the
# demo tenant) and waits until /healthz answers (curl trusts $work/ca.pem when it exists).
start_server() {
  local issuer="$1" port="$2"
  shift 2
  echo "interop: starting ${server_cmd[*]} serve on $issuer"
  rm -f "$work/portcullis.db"
  RUST_LOG="${RUST_LOG:-info,sqlx=warn}" NO_COLOR=1 \
    "${server_cmd[@]}" serve \
    --issuer "$issuer" \
    --bind "127.0.0.1:$port" \
    --database "sqlite://$work/portcullis.db" \
    --seed "$root/crates/portcullis-server/examples/tenant.toml" \
    "$@" \
    >"$work/server.log" 2>&1 &
  server_pid=$!

  local curl_tls=()
  [ -f "$work/ca.pem" ] && curl_tls=(--cacert "$work/ca.pem")
  # `cargo run` may still be compiling: allow longer for it than for a ready binary.
  local wait_s
  if [ -n "$bin" ]; then wait_s=30; else wait_s=600; fi
  local deadline=$((SECONDS + wait_s))
  until curl -fsS --max-time 2 "${curl_tls[@]}" "$issuer/healthz" >/dev/null 2>&1; do
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
}

# --- plain HTTP ------------------------------------------------------------------------------
port="$(free_port)"
issuer="http://127.0.0.1:$port"
start_server "$issuer" "$port"

# node_modules is gitignored; the committed package-lock.json pins every package.
(cd "$here" && timeout 300 npm ci --no-audit --no-fund --loglevel=error)

echo "interop: openid-client"
PORTCULLIS_ISSUER="$issuer" timeout 120 node "$here/openid-client.mjs"

# The hosted pages in headless Chromium (Debian `chromium`; override with $CHROMIUM).
echo "interop: browser (headless Chromium)"
PORTCULLIS_ISSUER="$issuer" timeout 180 node "$here/browser.mjs"
stop_server

# --- HTTPS, with a certificate from a test CA ------------------------------------------------
# The CA and a server certificate for localhost and 127.0.0.1 (ECDSA P-256, 2 days).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
  -subj "/CN=Portcullis interop test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  -keyout "$work/ca.key" -out "$work/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
  -subj "/CN=localhost" -keyout "$work/tls.key" -out "$work/tls.csr" 2>/dev/null
printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" \
  "basicConstraints=critical,CA:FALSE" "keyUsage=critical,digitalSignature" \
  "extendedKeyUsage=serverAuth" >"$work/tls.ext"
openssl x509 -req -in "$work/tls.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
  -days 2 -extfile "$work/tls.ext" -out "$work/tls.crt" 2>/dev/null
# Chromium is told to accept this certificate by its key's SHA-256 fingerprint.
spki="$(openssl x509 -in "$work/tls.crt" -pubkey -noout | openssl pkey -pubin -outform der \
  | openssl dgst -sha256 -binary | base64)"

port="$(free_port)"
issuer="https://localhost:$port"
start_server "$issuer" "$port" --tls-cert "$work/tls.crt" --tls-key "$work/tls.key"

echo "interop: openid-client over HTTPS (the test CA in NODE_EXTRA_CA_CERTS)"
NODE_EXTRA_CA_CERTS="$work/ca.pem" PORTCULLIS_ISSUER="$issuer" \
  timeout 120 node "$here/openid-client.mjs"

echo "interop: browser over HTTPS (headless Chromium)"
PORTCULLIS_ISSUER="$issuer" PORTCULLIS_TLS_SPKI="$spki" timeout 180 node "$here/browser.mjs"
stop_server
