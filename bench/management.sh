#!/usr/bin/env bash
# Load benchmark of the management API (issue 5): `GET /api/v1/users` (a page of 10 from 10,000
# users) and `POST /api/v1/user`, on SQLite and on PostgreSQL.
#
#   bench/management.sh                 # from the repository root (or anywhere)
#   DURATION=5 bench/management.sh      # shorter runs
#
# What it does (loopback only; stops by itself; kills what it started on exit): builds
# `portcullis` in release, and for each database — a temporary SQLite file, then a fresh schema
# on $PORTCULLIS_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/test; skipped
# with a note when unreachable) — starts `portcullis serve` pinned to CPU $SERVER_CPU with one
# management client, gets its token (read:users create:users), then with wrk pinned to CPU
# $LOADGEN_CPU:
#   1. fills the table with 10,000 users (unmeasured);
#   2. GET /api/v1/users?page_size=10 (the first page: ordered by id, keyset-paginated) for
#      DURATION s, and GET of a page deep in the list (with a next_token from the middle);
#   3. POST /api/v1/user for DURATION s, every request a new user (unique email).
# Every answer must be 2xx (wrk's non-2xx count is checked). Prints a summary table.
#
# Knobs: DURATION [10] WARMUP [2] CONNECTIONS [8] SERVER_CPU [1] LOADGEN_CPU [0]
#        SKIP_BUILD [unset] CARGO_TARGET_DIR [target] USERS [10000]
set -euo pipefail

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-8}
SERVER_CPU=${SERVER_CPU:-1}
LOADGEN_CPU=${LOADGEN_CPU:-0}
USERS=${USERS:-10000}
PG_URL=${PORTCULLIS_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
cd "$ROOT"
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}

log() { printf '[management.sh] %s\n' "$*" >&2; }
die() { printf '[management.sh] error: %s\n' "$*" >&2; exit 1; }

for tool in wrk curl python3 taskset; do
  command -v "$tool" >/dev/null || die "$tool is required (wrk: apt-get install wrk)"
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-mgmt-bench.XXXXXX")
SERVER_PID=""
PG_SCHEMA=""
cleanup() {
  if [[ -n $SERVER_PID ]]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
  if [[ -n $PG_SCHEMA ]]; then psql -q "$PG_URL" -c "DROP SCHEMA IF EXISTS $PG_SCHEMA CASCADE" >/dev/null 2>&1 || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

if [[ -z ${SKIP_BUILD:-} ]]; then
  log "building portcullis (release)"
  cargo build -q --release -p portcullis-server --bin portcullis
fi
BIN="$TARGET/release/portcullis"
[[ -x $BIN ]] || die "$BIN is missing"

cat >"$TMP/seed.toml" <<'TOML'
[[applications]]
name = "Bench admin"
type = "m2m"
client_id = "bench-admin"
client_secret = "bench-admin-secret-0123456789-0123456789"
management_scopes = ["read:users", "create:users"]
TOML

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'; }

declare -A RESULT
# wrk_run KEY URL [lua script] — sets RESULT[KEY] to requests/s; env passes BENCH_* through.
wrk_run() {
  # The key names the run in file names and in the generated emails: letters and digits only.
  local key=$1 url=$2 script=${3:-$BENCH_DIR/wrk-request.lua} slug=${1//[^A-Za-z0-9]/-}
  local out="$TMP/wrk-$slug.txt"
  if (( WARMUP > 0 )); then
    BENCH_PREFIX="warm-$slug" timeout $((WARMUP + 10)) taskset -c "$LOADGEN_CPU" wrk -t1 -c"$CONNECTIONS" \
      -d"${WARMUP}s" -s "$script" "$url" >/dev/null
  fi
  BENCH_PREFIX="run-$slug" timeout $((DURATION + 15)) taskset -c "$LOADGEN_CPU" wrk -t1 -c"$CONNECTIONS" \
    -d"${DURATION}s" --latency -s "$script" "$url" >"$out" || die "$key: wrk failed: $(cat "$out")"
  local rps non2xx
  rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")
  [[ -z $non2xx ]] || die "$key: $non2xx answers were not 2xx"
  RESULT[$key]="$rps req/s (p50 $(awk '$1 == "50%" {print $2}' "$out"), p99 $(awk '$1 == "99%" {print $2}' "$out"))"
  log "$key: ${RESULT[$key]}"
}

count_users() {
  # Pages of 500 through the API itself.
  python3 - "$1" "$2" <<'PY'
import json, sys, urllib.request
base, token = sys.argv[1], sys.argv[2]
n, nxt = 0, None
while True:
    url = f"{base}/api/v1/users?page_size=500" + (f"&next_token={nxt}" if nxt else "")
    req = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    body = json.load(urllib.request.urlopen(req))
    n += len(body["users"])
    nxt = body.get("next_token")
    if not nxt:
        break
print(n)
PY
}

bench_db() {
  local name=$1 db=$2 port base token have
  port=$(free_port)
  base="http://127.0.0.1:$port"
  RUST_LOG=warn taskset -c "$SERVER_CPU" "$BIN" serve --issuer "$base" --bind "127.0.0.1:$port" \
    --database "$db" --seed "$TMP/seed.toml" >"$TMP/server-$name.log" 2>&1 &
  SERVER_PID=$!
  local deadline=$((SECONDS + 30))
  until curl -fsS -o /dev/null --max-time 1 "$base/healthz" 2>/dev/null; do
    kill -0 "$SERVER_PID" 2>/dev/null || die "$name: the server exited: $(tail -5 "$TMP/server-$name.log")"
    (( SECONDS < deadline )) || die "$name: the server did not start"
    sleep 0.1
  done
  token=$(curl -fsS -u bench-admin:bench-admin-secret-0123456789-0123456789 \
    -d grant_type=client_credentials -d "audience=$base/api" "$base/oauth2/token" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
  export BENCH_AUTH="Bearer $token" BENCH_METHOD=GET BENCH_MAX=1000000

  have=$(count_users "$base" "$token")
  if (( have < USERS )); then
    log "$name: adding $((USERS - have)) users to reach $USERS"
    # Four keep-alive connections, exactly the missing number of users (wrk cannot stop at a
    # request count: its per-thread cap only ends a run that -d would end anyway).
    timeout 600 python3 - "$base" "$token" "$((USERS - have))" <<'PY' || die "$name: filling the users failed"
import http.client, json, sys, threading, urllib.parse
base, token, missing = sys.argv[1], sys.argv[2], int(sys.argv[3])
host = urllib.parse.urlsplit(base).netloc
headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
def fill(worker, count):
    conn = http.client.HTTPConnection(host, timeout=30)
    for i in range(count):
        body = json.dumps({"profile": {"given_name": "Fill", "family_name": f"User {worker}-{i}"},
                           "identities": [{"type": "email",
                                           "details": {"email": f"fill-{worker}-{i}@example.com"}}]})
        conn.request("POST", "/api/v1/user", body, headers)
        answer = conn.getresponse()
        answer.read()
        if answer.status != 200:
            sys.exit(f"POST /api/v1/user answered {answer.status}")
threads = [threading.Thread(target=fill, args=(w, missing // 4 + (w < missing % 4))) for w in range(4)]
for t in threads: t.start()
for t in threads: t.join()
PY
  fi
  have=$(count_users "$base" "$token")
  (( have >= USERS )) || die "$name: only $have users after filling (see the errors above)"
  log "$name: $have users"
  RESULT["$name users"]=$have
  wrk_run "$name GET /api/v1/users (first page of 10)" "$base/api/v1/users?page_size=10"
  local middle
  middle=$(python3 - "$base" "$token" "$((have / 2))" <<'PY'
import json, sys, urllib.request
base, token, skip = sys.argv[1], sys.argv[2], int(sys.argv[3])
url = f"{base}/api/v1/users?page_size={min(skip, 500)}"
nxt = None
seen = 0
while seen < skip:
    u = url + (f"&next_token={nxt}" if nxt else "")
    body = json.load(urllib.request.urlopen(urllib.request.Request(u, headers={"Authorization": f"Bearer {token}"})))
    seen += len(body["users"]); nxt = body["next_token"]
print(nxt)
PY
)
  wrk_run "$name GET /api/v1/users (page of 10 in the middle)" "$base/api/v1/users?page_size=10&next_token=$middle"
  # Last, so the reads above see USERS users: every request a new user.
  wrk_run "$name POST /api/v1/user" "$base/api/v1/user" "$BENCH_DIR/wrk-create-user.lua"
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
}

bench_db sqlite "sqlite://$TMP/bench.db"
if psql -q "$PG_URL" -c "SELECT 1" >/dev/null 2>&1; then
  PG_SCHEMA="pcbench_$(date +%s)"
  psql -q "$PG_URL" -c "CREATE SCHEMA $PG_SCHEMA" >/dev/null
  sep='?'; [[ $PG_URL == *\?* ]] && sep='&'
  bench_db postgres "${PG_URL}${sep}options=-c%20search_path%3D${PG_SCHEMA}"
else
  log "PostgreSQL at $PG_URL is not reachable: skipped"
fi

echo
echo "| database / operation | throughput |"
echo "|---|---|"
for key in "${!RESULT[@]}"; do echo "| $key | ${RESULT[$key]} |"; done | sort
