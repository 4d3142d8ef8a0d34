#!/usr/bin/env bash
# Load benchmark of the identity server, side by side with node's oidc-provider.
#
#   bench/load.sh                      # from the repository root (or anywhere)
#   DURATION=5 bench/load.sh           # shorter runs
#
# What it does (loopback 127.0.0.1 only; stops by itself; kills what it started on exit):
#   1. builds `portcullis` and the code-flow load driver (the `flow_load` example of
#      portcullis-server) in release, and starts `portcullis serve` on a free port with a
#      temporary SQLite file and a small seed (one API, one m2m client, one web application,
#      one user);
#   2. installs node's oidc-provider (bench/oidc-provider/package-lock.json) and starts
#      bench/oidc-provider.mjs with the same clients and user on another free port;
#   3. with wrk, measures requests/second of the client_credentials token endpoint (POST, Basic
#      auth, RS256 JWT access token) and of the JWKS endpoint of each server; reads portcullis'
#      resident memory (VmRSS) idle after start and idle after that load;
#   4. with flow_load, measures complete authorization-code flows per second (and the p50 / p99
#      time of one flow) of each server, FLOW_USERS virtual users at once:
#      - "SSO": a signed-in user (one sign-in per virtual user before the clock starts); each
#        flow is GET authorize (PKCE S256, state, nonce) -> redirect with the code (state and
#        iss checked) -> POST token (authorization_code, client_secret_basic) -> access + ID
#        token (nonce, iss, aud checked). Two requests; no password hashing.
#      - "sign-in": a fresh browser every flow: authorize -> hosted sign-in form -> post email
#        and password (with portcullis' CSRF token and browser-binding cookie) -> code -> token.
#        NOT like-for-like: portcullis verifies an argon2id hash (19 MiB, t=2) per sign-in,
#        while oidc-provider's devInteractions accepts any password and hashes none.
#      oidc-provider keeps sessions, grants and codes in memory (its default adapter);
#      portcullis writes them to its SQLite file, in PC_DB_DIR: on a disk by default, so the
#      code-flow figures include SQLite's commits (fsync); PC_DB_DIR=/dev/shm takes the disk out;
#   5. runs `openssl speed -seconds 3 rsa2048` on the servers' core just before and just after the
#      portcullis token run (the core's speed drifts on a shared machine; the token rate is
#      compared with their mean), and prints a summary table.
#
# Fairness: both servers run on one core (taskset -c $SERVER_CPU), the load generator on another
# (taskset -c $LOADGEN_CPU), so the figures are per server core and comparable with openssl's
# single-core RSA-2048 signing rate. Each measured run is preceded by a short warm-up.
# Noise: during every measurement the script records the share of each of the two CPUs used by
# the server (or openssl), by wrk, and by anything else; when anything else used more than
# NOISE_LIMIT % of a CPU, the figure is flagged "disturbed" (rerun on a quiet machine).
#
# Bounds: every wrk run lasts DURATION seconds and sends at most MAX_REQUESTS requests per wrk
# thread; every flow_load run lasts DURATION seconds and starts at most MAX_FLOWS flows (it
# refuses non-loopback issuers and stops after 100 failed flows); each run is also killed by
# `timeout` if it overstays. Runtime after the builds: about (6 + 2 × TOKEN_ROUNDS) ×
# (WARMUP + DURATION) + 3 s × (TOKEN_ROUNDS + 1) of openssl + ~15 s (start-ups, idle waits,
# sign-ins before the SSO runs) ≈ 3 min by default, ≈ 100 s with DURATION=5.
#
# Environment knobs (defaults in brackets):
#   DURATION [10]  WARMUP [2]  CONNECTIONS [8]  WRK_THREADS [1]  MAX_REQUESTS [1000000]
#   TOKEN_ROUNDS [3]  FLOW_USERS [CONNECTIONS]  MAX_FLOWS [200000]  PC_DB_DIR [unset: inside the temporary dir]
#   SERVER_CPU [1]  LOADGEN_CPU [0]  NOISE_LIMIT [10]  SKIP_BUILD [unset: build]
#   CARGO_TARGET_DIR [target]  RUST_LOG [warn]
#   BASELINE_BIN [unset]: the path of another `portcullis` binary (an older build) to measure in
#   the same run: it is started like this build's on its own port and SQLite file, measured in
#   the same interleaved token rounds (right next to this build's run, before it in even rounds
#   and after it in odd ones) and code-flow runs, and the summary adds this build ÷ baseline
#   ratios. Build the old one with e.g.
#   `git worktree add /tmp/old <rev> && cargo build --release --manifest-path /tmp/old/Cargo.toml -p portcullis-server --bin portcullis`
#   RESULTS [unset: a file that receives the summary and the raw wrk, flow_load and openssl
#   outputs]
set -euo pipefail

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-8}
WRK_THREADS=${WRK_THREADS:-1}
MAX_REQUESTS=${MAX_REQUESTS:-1000000}
FLOW_USERS=${FLOW_USERS:-$CONNECTIONS}
MAX_FLOWS=${MAX_FLOWS:-200000}
SERVER_CPU=${SERVER_CPU:-1}
LOADGEN_CPU=${LOADGEN_CPU:-0}

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
cd "$ROOT"

log() { printf '[load.sh] %s\n' "$*" >&2; }
die() { printf '[load.sh] error: %s\n' "$*" >&2; exit 1; }
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

# ---------------------------------------------------------------------------------------------
# Processes we start, and their cleanup.
TMP=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-bench.XXXXXX")
PIDS=()
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid" 2>/dev/null || true
    fi
  done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [[ $status -ne 0 && -d $TMP ]]; then
    for f in "$TMP"/*.log; do
      [[ -s $f ]] || continue
      log "--- last lines of $(basename "$f") ---"
      tail -n 20 "$f" >&2 || true
    done
  fi
  rm -rf "$TMP"
  [[ -z ${PC_DB_TMP:-} ]] || rm -rf "$PC_DB_TMP"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------------------------
# Tools.
for tool in cargo node npm curl taskset openssl timeout; do
  command -v "$tool" >/dev/null || die "$tool is required"
done
if ! command -v wrk >/dev/null; then
  if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null; then
    log "installing wrk (apt-get)"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >&2
  else
    die "wrk is not installed; install it (Debian: sudo apt-get install wrk) and run again"
  fi
fi
CPUS=$(nproc --all)
if (( CPUS < 2 )) || [[ $SERVER_CPU == "$LOADGEN_CPU" ]]; then
  die "needs two distinct CPUs (SERVER_CPU=$SERVER_CPU, LOADGEN_CPU=$LOADGEN_CPU, $CPUS CPUs)"
fi
ON_SERVER_CPU=(taskset -c "$SERVER_CPU")
ON_LOADGEN_CPU=(taskset -c "$LOADGEN_CPU")

# ---------------------------------------------------------------------------------------------
# Builds.
if [[ -z ${SKIP_BUILD:-} ]]; then
  log "cargo build --release -p portcullis-server --bin portcullis --example flow_load"
  cargo build --release -p portcullis-server --bin portcullis --example flow_load >&2
fi
PORTCULLIS="${CARGO_TARGET_DIR:-$ROOT/target}/release/portcullis"
FLOW_LOAD="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/flow_load"
[[ -x $PORTCULLIS ]] || die "$PORTCULLIS is missing (run without SKIP_BUILD)"
[[ -x $FLOW_LOAD ]] || die "$FLOW_LOAD is missing (run without SKIP_BUILD)"

OP_DIR="$BENCH_DIR/oidc-provider"
if [[ ! -f $OP_DIR/node_modules/oidc-provider/package.json \
      || $OP_DIR/package-lock.json -nt $OP_DIR/node_modules/.package-lock.json ]]; then
  log "npm ci (bench/oidc-provider)"
  (cd "$OP_DIR" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
OP_VERSION=$(node -p "require('$OP_DIR/node_modules/oidc-provider/package.json').version")

# ---------------------------------------------------------------------------------------------
# The tenant both servers get.
CLIENT_ID=bench-worker
CLIENT_SECRET=$(head -c 32 /dev/urandom | base64 | tr -d '=+/\n')   # 40+ chars, URL-safe
AUDIENCE=https://api.example.com
SCOPES="read:todos create:todos"
BASIC="Basic $(printf '%s:%s' "$CLIENT_ID" "$CLIENT_SECRET" | base64 | tr -d '\n')"
FORM_SCOPE="scope=read%3Atodos+create%3Atodos"
PC_BODY="grant_type=client_credentials&audience=https%3A%2F%2Fapi.example.com&$FORM_SCOPE"
OP_BODY="grant_type=client_credentials&resource=https%3A%2F%2Fapi.example.com&$FORM_SCOPE"
# The web application (code flow) and its user. The redirect URI is never requested.
WEB_CLIENT_ID=bench-web
WEB_CLIENT_SECRET=$(head -c 32 /dev/urandom | base64 | tr -d '=+/\n')
REDIRECT_URI=http://127.0.0.1:9/bench/callback
USER_EMAIL=bench@example.com
USER_PASSWORD=$(head -c 24 /dev/urandom | base64 | tr -d '=+/\n')
FLOW_SCOPE="openid profile email $SCOPES"

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

[[applications]]
name = "Bench web app"
type = "reg"
client_id = "$WEB_CLIENT_ID"
client_secret = "$WEB_CLIENT_SECRET"
redirect_urls = ["$REDIRECT_URI"]
apis = [{ audience = "$AUDIENCE", scopes = ["read:todos", "create:todos"] }]

[[users]]
email = "$USER_EMAIL"
given_name = "Bench"
family_name = "User"
password = "$USER_PASSWORD"
EOF

# ---------------------------------------------------------------------------------------------
# Start both servers on the server core.
if [[ -n ${PC_DB_DIR:-} ]]; then
  [[ -d $PC_DB_DIR ]] || die "PC_DB_DIR=$PC_DB_DIR is not a directory"
  PC_DB_TMP=$(mktemp -d "$PC_DB_DIR/portcullis-bench-db.XXXXXX")
  PC_DB="$PC_DB_TMP/portcullis.db"
else
  PC_DB="$TMP/portcullis.db"
fi
PC_DB_FS=$(df --output=fstype "$(dirname "$PC_DB")" | tail -n 1 | tr -d ' ')
PC_PORT=$(free_port)
PC="http://127.0.0.1:$PC_PORT"
log "starting portcullis on $PC (SQLite $PC_DB, on $PC_DB_FS)"
RUST_LOG=${RUST_LOG:-warn} "${ON_SERVER_CPU[@]}" "$PORTCULLIS" serve \
  --issuer "$PC" --bind "127.0.0.1:$PC_PORT" \
  --database "sqlite://$PC_DB" --seed "$TMP/seed.toml" \
  >"$TMP/portcullis.log" 2>&1 &
PC_PID=$!
PIDS+=("$PC_PID")
wait_for "$PC/healthz" 30 "$PC_PID"

BASE_PID="" BASE=""
if [[ -n ${BASELINE_BIN:-} ]]; then
  [[ -x $BASELINE_BIN ]] || die "BASELINE_BIN=$BASELINE_BIN is not an executable"
  BASE_PORT=$(free_port)
  BASE="http://127.0.0.1:$BASE_PORT"
  log "starting the baseline portcullis ($BASELINE_BIN) on $BASE"
  RUST_LOG=${RUST_LOG:-warn} "${ON_SERVER_CPU[@]}" "$BASELINE_BIN" serve \
    --issuer "$BASE" --bind "127.0.0.1:$BASE_PORT" \
    --database "sqlite://${PC_DB%.db}-baseline.db" --seed "$TMP/seed.toml" \
    >"$TMP/baseline.log" 2>&1 &
  BASE_PID=$!
  PIDS+=("$BASE_PID")
  wait_for "$BASE/healthz" 30 "$BASE_PID"
fi

OP_PORT=$(free_port)
OP="http://127.0.0.1:$OP_PORT"
log "starting oidc-provider $OP_VERSION on $OP"
NODE_ENV=production "${ON_SERVER_CPU[@]}" node "$BENCH_DIR/oidc-provider.mjs" \
  "$OP_PORT" "$CLIENT_ID" "$CLIENT_SECRET" "$AUDIENCE" "$SCOPES" \
  "$WEB_CLIENT_ID" "$WEB_CLIENT_SECRET" "$REDIRECT_URI" "$USER_EMAIL" \
  >"$TMP/oidc-provider.log" 2>&1 &
OP_PID=$!
PIDS+=("$OP_PID")
wait_for "$OP/.well-known/openid-configuration" 30 "$OP_PID"

# ---------------------------------------------------------------------------------------------
# Both must issue an RS256 JWT access token for the same client, audience and scopes.
check_token() {
  local name=$1 url=$2 body=$3 response
  response=$(curl -fsS --max-time 5 -H "Authorization: $BASIC" \
    -H 'Content-Type: application/x-www-form-urlencoded' --data "$body" "$url") \
    || die "$name: the token request failed"
  node -e '
    const [name, audience] = process.argv.slice(1);
    const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const [h, p] = String(r.access_token).split(".").slice(0, 2)
      .map((s) => JSON.parse(Buffer.from(s, "base64url")));
    const aud = [].concat(p.aud);
    if (h.alg !== "RS256" || !aud.includes(audience) || r.token_type !== "Bearer") {
      console.error(`${name}: unexpected token ${JSON.stringify({ h, p })}`); process.exit(1);
    }
    console.error(`[load.sh] ${name}: alg=${h.alg} typ=${h.typ} aud=${JSON.stringify(p.aud)} ` +
      `scope="${p.scope}" token ${r.access_token.length} bytes`);
  ' "$name" "$AUDIENCE" <<<"$response" || die "$name: not an RS256 JWT for $AUDIENCE"
}
check_token portcullis "$PC/oauth2/token" "$PC_BODY"
check_token oidc-provider "$OP/token" "$OP_BODY"
[[ -z $BASE ]] || check_token baseline "$BASE/oauth2/token" "$PC_BODY"
curl -fsS --max-time 5 -o /dev/null "$PC/.well-known/jwks.json" || die "portcullis JWKS failed"
curl -fsS --max-time 5 -o /dev/null "$OP/jwks" || die "oidc-provider JWKS failed"

sleep 1
PC_RSS_START=$(rss_kib "$PC_PID")
OP_RSS_START=$(rss_kib "$OP_PID")
log "idle RSS after start: portcullis $(mib "$PC_RSS_START") MiB, oidc-provider $(mib "$OP_RSS_START") MiB"

# ---------------------------------------------------------------------------------------------
# Load.
declare -A RPS CPU_NOTE

# RSA-2048 signing rate of the servers' core (OpenSSL 3.0 prints "rsa 2048 bits <s> <s> sign/s
# verify/s"; later versions add columns, so take the number under the "sign/s" header).
# The core's speed drifts on a shared machine, so it is measured right before and right after
# the portcullis token run, and the token run is compared with their mean.
# rsa_rate KEY — sets RSA[KEY].
declare -A RSA
rsa_rate() {
  local key=$1 out="$TMP/$1.txt"
  log "$key: openssl speed -seconds 3 rsa2048 (on CPU $SERVER_CPU)"
  WATCHED_OUT=$out watched - "${ON_SERVER_CPU[@]}" openssl speed -seconds 3 rsa2048 \
    || die "openssl speed failed: $(cat "$out")"
  RSA[$key]=$(awk '
    /sign\/s/ { H = NF; for (i = 1; i <= NF; i++) if ($i == "sign/s") col = i; next }
    col && /^rsa/ && /2048/ { printf "%.0f", $(NF - H + col); exit }
  ' "$out")
  [[ ${RSA[$key]} =~ ^[0-9]+$ ]] || die "cannot read sign/s from: $(cat "$out")"
  CPU_NOTE[$key]="openssl ${SHARE_SELF} %, others ${SHARE_SRV_OTHER} % | CPU $LOADGEN_CPU others ${SHARE_GEN_OTHER} %"
  log "$key: ${RSA[$key]} sign/s; CPU $SERVER_CPU / CPU $LOADGEN_CPU: ${CPU_NOTE[$key]}"
  check_noise "$key"
}

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

# The token endpoints in TOKEN_ROUNDS interleaved rounds: openssl, portcullis, openssl,
# oidc-provider, …; each portcullis run is compared with the mean of the openssl runs around it
# and with the oidc-provider run after it; the medians are reported.
TOKEN_ROUNDS=${TOKEN_ROUNDS:-3}
TOKEN_KEYS=(openssl_0)
rsa_rate openssl_0
PC_ROUNDS=() OP_ROUNDS=() RSA_ROUNDS=() OF_RSA_ROUNDS=() VS_OP_ROUNDS=()
BASE_ROUNDS=() VS_BASE_ROUNDS=()
# With a baseline, it runs next to this build, before it in even rounds and after it in odd
# ones: what ran just before a run (openssl, oidc-provider) then favours neither binary.
base_token() {
  run_wrk "base_token_$round" "$BASE_PID" "$BASE/oauth2/token" POST "$PC_BODY" "$BASIC"
  TOKEN_KEYS+=("base_token_$round")
}
for round in $(seq 1 "$TOKEN_ROUNDS"); do
  if [[ -n $BASE ]] && (( round % 2 == 0 )); then base_token; fi
  run_wrk "pc_token_$round" "$PC_PID" "$PC/oauth2/token" POST "$PC_BODY" "$BASIC"
  TOKEN_KEYS+=("pc_token_$round")
  if [[ -n $BASE ]] && (( round % 2 == 1 )); then base_token; fi
  rsa_rate "openssl_$round"
  run_wrk "op_token_$round" "$OP_PID" "$OP/token" POST "$OP_BODY" "$BASIC"
  TOKEN_KEYS+=("openssl_$round" "op_token_$round")
  if [[ -n $BASE ]]; then
    BASE_ROUNDS+=("${RPS[base_token_$round]}")
    VS_BASE_ROUNDS+=("$(ratio "${RPS[pc_token_$round]}" "${RPS[base_token_$round]}")")
  fi
  rsa_mean=$(( (RSA[openssl_$((round - 1))] + RSA[openssl_$round]) / 2 ))
  PC_ROUNDS+=("${RPS[pc_token_$round]}") OP_ROUNDS+=("${RPS[op_token_$round]}")
  RSA_ROUNDS+=("$rsa_mean")
  OF_RSA_ROUNDS+=("$(pct_of "${RPS[pc_token_$round]}" "$rsa_mean")")
  VS_OP_ROUNDS+=("$(ratio "${RPS[pc_token_$round]}" "${RPS[op_token_$round]}")")
done
RPS[pc_token]=$(median "${PC_ROUNDS[@]}")
RPS[op_token]=$(median "${OP_ROUNDS[@]}")
RSA_SIGNS=$(median "${RSA_ROUNDS[@]}")
run_wrk pc_jwks "$PC_PID" "$PC/.well-known/jwks.json" GET "" ""
run_wrk op_jwks "$OP_PID" "$OP/jwks" GET "" ""

sleep 2
PC_RSS_AFTER=$(rss_kib "$PC_PID")
PC_HWM=$(hwm_kib "$PC_PID")
OP_RSS_AFTER=$(rss_kib "$OP_PID")
OP_HWM=$(hwm_kib "$OP_PID")

# ---------------------------------------------------------------------------------------------
# Complete authorization-code flows, with flow_load on the load core (see the top of this file).
declare -A FPS FLOW_NOTE
# flow_field FILE NAME — a NAME=value field of flow_load's summary line.
flow_field() {
  awk -v f="$2" '/^flows=/ { for (i = 1; i <= NF; i++) { split($i, kv, "="); if (kv[1] == f) print kv[2] } }' "$1"
}
# run_flows KEY PID ISSUER SCENARIO AUDIENCE_PARAM — PID is the server under load.
run_flows() {
  local key=$1 pid=$2 issuer=$3 scenario=$4 audience_param=$5 out="$TMP/flows-$1.txt" fps
  local flow_env=(FLOW_LOAD_CLIENT_SECRET="$WEB_CLIENT_SECRET" FLOW_LOAD_PASSWORD="$USER_PASSWORD")
  local flow_args=(--issuer "$issuer" --scenario "$scenario" --client-id "$WEB_CLIENT_ID"
    --redirect-uri "$REDIRECT_URI" --scope "$FLOW_SCOPE" --audience "$AUDIENCE"
    --audience-param "$audience_param" --email "$USER_EMAIL" --users "$FLOW_USERS"
    --max-flows "$MAX_FLOWS")
  # Its own deadline is DURATION plus time for the sign-ins before and the flows under way
  # after; `timeout` is the backstop.
  if (( WARMUP > 0 )); then
    env "${flow_env[@]}" timeout $((WARMUP + 90)) "${ON_LOADGEN_CPU[@]}" "$FLOW_LOAD" \
      "${flow_args[@]}" --duration "$WARMUP" >"$TMP/flows-$key-warmup.txt" 2>&1 \
      || die "$key: flow_load warm-up failed: $(cat "$TMP/flows-$key-warmup.txt")"
  fi
  log "$key: flow_load --scenario $scenario --users $FLOW_USERS --duration $DURATION ($issuer)"
  WATCHED_OUT=$out watched "$pid" env "${flow_env[@]}" timeout $((DURATION + 90)) \
    "${ON_LOADGEN_CPU[@]}" "$FLOW_LOAD" "${flow_args[@]}" --duration "$DURATION" \
    || die "$key: flow_load failed: $(cat "$out")"
  fps=$(flow_field "$out" flows_per_s)
  [[ -n $fps ]] || die "$key: no flows_per_s in flow_load output: $(cat "$out")"
  FPS[$key]=$fps
  FLOW_NOTE[$key]="$fps flows/s (p50 $(flow_field "$out" p50_ms) ms, p99 $(flow_field "$out" p99_ms) ms)"
  CPU_NOTE[$key]="server ${SHARE_SELF} %, others ${SHARE_SRV_OTHER} % | flow_load ${SHARE_GEN} %, others ${SHARE_GEN_OTHER} %"
  log "$key: ${FLOW_NOTE[$key]}; $(flow_field "$out" flows) flows," \
    "$(flow_field "$out" requests_per_flow) requests each; CPU $SERVER_CPU / CPU $LOADGEN_CPU:" \
    "${CPU_NOTE[$key]}"
  check_noise "$key"
}

run_flows pc_sso "$PC_PID" "$PC" sso audience
run_flows op_sso "$OP_PID" "$OP" sso resource
run_flows pc_signin "$PC_PID" "$PC" sign-in audience
run_flows op_signin "$OP_PID" "$OP" sign-in resource
FLOW_KEYS=(pc_sso op_sso pc_signin op_signin)
if [[ -n $BASE ]]; then
  run_flows base_sso "$BASE_PID" "$BASE" sso audience
  run_flows base_signin "$BASE_PID" "$BASE" sign-in audience
  # This build once more after the baseline, so that drift shows in both directions.
  run_flows pc_sso_again "$PC_PID" "$PC" sso audience
  FLOW_KEYS+=(base_sso base_signin pc_sso_again)
fi

sleep 2
PC_RSS_FLOWS=$(rss_kib "$PC_PID")
PC_HWM_FLOWS=$(hwm_kib "$PC_PID")
OP_RSS_FLOWS=$(rss_kib "$OP_PID")
OP_HWM_FLOWS=$(hwm_kib "$OP_PID")

# ---------------------------------------------------------------------------------------------
# Summary.

TOKEN_RATIO=$(median "${VS_OP_ROUNDS[@]}")
JWKS_RATIO=$(ratio "${RPS[pc_jwks]}" "${RPS[op_jwks]}")
TOKEN_OF_RSA=$(median "${OF_RSA_ROUNDS[@]}")
SSO_RATIO=$(ratio "${FPS[pc_sso]}" "${FPS[op_sso]}")
SIGNIN_RATIO=$(ratio "${FPS[pc_signin]}" "${FPS[op_signin]}")
IDLE_OK=$(awk -v s="$PC_RSS_START" -v a="$PC_RSS_AFTER" \
  'BEGIN {print (s * 1024 < 30e6 && a * 1024 < 30e6 ? "met" : "not met")}')

SUMMARY="$TMP/summary.md"
{
  echo "portcullis $("$PORTCULLIS" --version | awk '{print $2}') vs oidc-provider $OP_VERSION" \
    "(node $(node --version)); servers on CPU $SERVER_CPU, wrk on CPU $LOADGEN_CPU;" \
    "wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s after a ${WARMUP} s warm-up"
  echo
  echo "| endpoint | portcullis req/s | oidc-provider req/s | ratio | target |"
  echo "|---|---:|---:|---:|---|"
  echo "| token, client_credentials (RS256 JWT) | ${RPS[pc_token]} | ${RPS[op_token]} |" \
    "${TOKEN_RATIO}× | ≥ 2× — $(verdict "$TOKEN_RATIO" 2) |"
  echo "| JWKS | ${RPS[pc_jwks]} | ${RPS[op_jwks]} | ${JWKS_RATIO}× | ≥ 5× — $(verdict "$JWKS_RATIO" 5) |"
  echo
  echo "Token endpoint, $TOKEN_ROUNDS interleaved rounds (medians above): portcullis ${PC_ROUNDS[*]} req/s;" \
    "oidc-provider ${OP_ROUNDS[*]} req/s; ratio ${VS_OP_ROUNDS[*]}; RSA-2048 sign/s around each" \
    "portcullis run ${RSA_ROUNDS[*]}; portcullis ÷ RSA ${OF_RSA_ROUNDS[*]} %."
  echo
  echo "Complete authorization-code flows (PKCE S256, client_secret_basic, access + ID token)," \
    "flow_load with $FLOW_USERS virtual users for ${DURATION} s after a ${WARMUP} s warm-up;" \
    "portcullis' SQLite file on $PC_DB_FS, oidc-provider's state in memory:"
  echo
  echo "| code flow | portcullis | oidc-provider | ratio | note |"
  echo "|---|---:|---:|---:|---|"
  echo "| code flow (SSO): signed-in user, authorize → code → token | ${FLOW_NOTE[pc_sso]} |" \
    "${FLOW_NOTE[op_sso]} | ${SSO_RATIO}× | |"
  echo "| code flow (sign-in): fresh browser, authorize → sign-in form → code → token |" \
    "${FLOW_NOTE[pc_signin]} | ${FLOW_NOTE[op_signin]} | ${SIGNIN_RATIO}× |" \
    "not like-for-like: portcullis verifies an argon2id password hash (19 MiB, t=2) per" \
    "sign-in; oidc-provider's devInteractions accepts any password and hashes none |"
  echo
  echo "| figure | value | target |"
  echo "|---|---|---|"
  echo "| \`openssl speed -seconds 3 rsa2048\`, 1 core (median of the means around each portcullis round) | ${RSA_SIGNS} sign/s | |"
  echo "| portcullis token endpoint ÷ RSA-2048 sign rate | ${TOKEN_OF_RSA} % |" \
    "≥ 80 % — $(verdict "$TOKEN_OF_RSA" 80) |"
  echo "| portcullis RSS, idle after start | $(mib "$PC_RSS_START") MiB | < 30 MB — $IDLE_OK |"
  echo "| portcullis RSS, idle after the load | $(mib "$PC_RSS_AFTER") MiB (peak $(mib "$PC_HWM") MiB) | < 30 MB — $IDLE_OK |"
  echo "| oidc-provider RSS, idle after start / after the load | $(mib "$OP_RSS_START") / $(mib "$OP_RSS_AFTER") MiB (peak $(mib "$OP_HWM") MiB) | |"
  echo "| portcullis RSS, idle after the code flows (sign-ins hash passwords) | $(mib "$PC_RSS_FLOWS") MiB (peak $(mib "$PC_HWM_FLOWS") MiB) | |"
  echo "| oidc-provider RSS, idle after the code flows | $(mib "$OP_RSS_FLOWS") MiB (peak $(mib "$OP_HWM_FLOWS") MiB) | |"
  echo
  if [[ -n $BASE ]]; then
    echo "This build against the baseline \`$BASELINE_BIN\` ($("$BASELINE_BIN" --version | awk '{print $2}')), same rounds:"
    echo
    echo "| figure | this build | baseline | ratio |"
    echo "|---|---:|---:|---:|"
    echo "| token, client_credentials, req/s (median of $TOKEN_ROUNDS rounds: ${PC_ROUNDS[*]} vs ${BASE_ROUNDS[*]}) |" \
      "${RPS[pc_token]} | $(median "${BASE_ROUNDS[@]}") | $(median "${VS_BASE_ROUNDS[@]}")× (rounds ${VS_BASE_ROUNDS[*]}) |"
    echo "| code flow (SSO), flows/s (this build before and after the baseline) |" \
      "${FPS[pc_sso]} / ${FPS[pc_sso_again]} | ${FPS[base_sso]} | $(ratio "${FPS[pc_sso]}" "${FPS[base_sso]}")× / $(ratio "${FPS[pc_sso_again]}" "${FPS[base_sso]}")× |"
    echo "| code flow (sign-in), flows/s | ${FPS[pc_signin]} | ${FPS[base_signin]} | $(ratio "${FPS[pc_signin]}" "${FPS[base_signin]}")× |"
    echo
  fi
  echo "CPU use during each measurement (CPU $SERVER_CPU: server / other processes | CPU $LOADGEN_CPU: wrk or flow_load / other processes):"
  echo
  for k in "${TOKEN_KEYS[@]}" pc_jwks op_jwks "${FLOW_KEYS[@]}"; do
    echo "- $k: ${CPU_NOTE[$k]}"
  done
  if (( ${#DISTURBED[@]} )); then
    echo
    echo "**Disturbed** (other processes used more than $NOISE_LIMIT % of a core): ${DISTURBED[*]}"
  fi
} >"$SUMMARY"

echo
cat "$SUMMARY"
if [[ -n ${RESULTS:-} ]]; then
  {
    cat "$SUMMARY"
    echo
    echo '```text'
    for k in "${TOKEN_KEYS[@]}" pc_jwks op_jwks; do
      [[ -f $TMP/wrk-$k.txt ]] && { echo "== $k"; cat "$TMP/wrk-$k.txt"; }
    done
    for k in "${FLOW_KEYS[@]}"; do echo "== $k"; cat "$TMP/flows-$k.txt"; done
    for k in "${TOKEN_KEYS[@]}"; do
      [[ -f $TMP/$k.txt ]] && { echo "== $k"; cat "$TMP/$k.txt"; }
    done
    echo '```'
  } >"$RESULTS"
fi
