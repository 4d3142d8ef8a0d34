#!/usr/bin/env bash
# Instructions per client_credentials token request, counted by callgrind (not wall-clock time,
# so a busy machine does not change the figure much).
#
#   bench/callgrind-token.sh                 # from the repository root (or anywhere)
#   REQUESTS=300 WARMUP_REQUESTS=30 bench/callgrind-token.sh
#
# It builds `portcullis` in release (unless SKIP_BUILD is set), starts `portcullis serve` under
# `valgrind --tool=callgrind` on a free loopback port with a temporary SQLite file and the same
# seed as bench/load.sh (one API, one m2m client), sends WARMUP_REQUESTS token requests, zeroes
# the counters, sends REQUESTS more on one keep-alive connection (like wrk), dumps the counters
# and prints: instructions per request, and the share inside the RSA signature (RSA_sign and
# everything below it). OUT (default: a temporary directory) receives callgrind.out.* for
# callgrind_annotate.
set -euo pipefail

REQUESTS=${REQUESTS:-300}
WARMUP_REQUESTS=${WARMUP_REQUESTS:-30}
BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
cd "$ROOT"
log() { printf '[callgrind-token] %s\n' "$*" >&2; }
die() { printf '[callgrind-token] error: %s\n' "$*" >&2; exit 1; }
for tool in cargo valgrind callgrind_control callgrind_annotate python3 curl; do
  command -v "$tool" >/dev/null || die "$tool is required"
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-callgrind.XXXXXX")
OUT=${OUT:-$TMP}
mkdir -p "$OUT"
PID=
cleanup() {
  local status=$?
  if [[ -n $PID ]] && kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$PID" 2>/dev/null || true
  fi
  [[ $status -ne 0 && -f $TMP/server.log ]] && tail -n 20 "$TMP/server.log" >&2
  [[ $OUT == "$TMP" ]] || rm -rf "$TMP"
  exit "$status"
}
trap cleanup EXIT

if [[ -z ${SKIP_BUILD:-} ]]; then
  log "cargo build --release -p portcullis-server --bin portcullis"
  cargo build --release -p portcullis-server --bin portcullis >&2
fi
PORTCULLIS="${CARGO_TARGET_DIR:-$ROOT/target}/release/portcullis"
[[ -x $PORTCULLIS ]] || die "$PORTCULLIS is missing"

CLIENT_ID=bench-worker
CLIENT_SECRET=$(head -c 32 /dev/urandom | base64 | tr -d '=+/\n')
AUDIENCE=https://api.example.com
cat >"$TMP/seed.toml" <<EOF
[[apis]]
name = "Bench API"
audience = "$AUDIENCE"
scopes = ["read:todos", "create:todos", "delete:todos"]

[[applications]]
name = "Bench worker"
type = "m2m"
client_id = "$CLIENT_ID"
client_secret = "$CLIENT_SECRET"
apis = [{ audience = "$AUDIENCE", scopes = ["read:todos", "create:todos"] }]
EOF

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
URL="http://127.0.0.1:$PORT"
log "starting portcullis under callgrind on $URL"
RUST_LOG=${RUST_LOG:-warn} valgrind --tool=callgrind --callgrind-out-file="$OUT/callgrind.out.%p" \
  "$PORTCULLIS" serve --issuer "$URL" --bind "127.0.0.1:$PORT" \
  --database "sqlite://$TMP/portcullis.db" --seed "$TMP/seed.toml" >"$TMP/server.log" 2>&1 &
PID=$!
for _ in $(seq 600); do
  curl -fsS -o /dev/null --max-time 2 "$URL/healthz" 2>/dev/null && break
  kill -0 "$PID" 2>/dev/null || die "the server exited during start-up"
  sleep 0.2
done

# Sends N token requests on one keep-alive connection; fails unless each answers 200.
send() {
  python3 - "$PORT" "$CLIENT_ID" "$CLIENT_SECRET" "$1" <<'PY'
import base64, http.client, sys
port, cid, secret, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
basic = base64.b64encode(f"{cid}:{secret}".encode()).decode()
body = "grant_type=client_credentials&audience=https%3A%2F%2Fapi.example.com&scope=read%3Atodos+create%3Atodos"
headers = {"Authorization": "Basic " + basic, "Content-Type": "application/x-www-form-urlencoded"}
conn = http.client.HTTPConnection("127.0.0.1", int(port), timeout=60)
for _ in range(n):
    conn.request("POST", "/oauth2/token", body, headers)
    r = conn.getresponse()
    data = r.read()
    if r.status != 200:
        sys.exit(f"status {r.status}: {data[:200]!r}")
PY
}
send "$WARMUP_REQUESTS"
callgrind_control -z "$PID" >/dev/null
send "$REQUESTS"
callgrind_control -d "$PID" >/dev/null
FILE="$OUT/callgrind.out.$PID.1"   # the first dump (the last is written at exit)
for _ in $(seq 50); do [[ -s $FILE ]] && break; sleep 0.2; done
sleep 1
# (awk reads everything: an early exit would make callgrind_annotate fail with SIGPIPE.)
TOTAL=$(callgrind_annotate "$FILE" 2>/dev/null \
  | awk '/PROGRAM TOTALS/ && !done {gsub(",", "", $1); print $1; done = 1}')
# The RSA signature: aws-lc's RSA_sign and everything it calls (hashing the input excluded).
RSA=$(callgrind_annotate --inclusive=yes --threshold=100 "$FILE" 2>/dev/null \
  | awk '/_RSA_sign \[/ && !done {gsub(",", "", $1); print $1; done = 1}')
RSA=${RSA:-0}
awk -v t="$TOTAL" -v r="$RSA" -v n="$REQUESTS" 'BEGIN {
  printf "requests %d\ninstructions/request %.0f\n  in RSA signing %.0f (%.1f %%)\n  outside it %.0f\n",
    n, t / n, r / n, 100 * r / t, (t - r) / n }'
log "profile: $FILE (callgrind_annotate --inclusive=yes $FILE)"
