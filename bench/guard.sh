#!/usr/bin/env bash
# What the bearer guard costs an axum endpoint (portcullis-axum), under a bounded loopback load.
#
#   bench/guard.sh                  # from the repository root (or anywhere)
#   DURATION=5 bench/guard.sh       # shorter runs
#
# What it does (loopback only; stops by itself; kills what it started on exit):
#   1. builds crates/portcullis-axum/examples/guard_bench.rs in release;
#   2. on the server core, at the start of every round, measures one raw `jsonwebtoken` RS256
#      verification of the same kind of token (`guard_bench raw`: the median of 5 rounds of
#      20,000 decodes);
#   3. starts `guard_bench serve` on the server core: the real identity server in-process (keys
#      and one RS256 access token) and an axum app with /plain (no auth), /guarded (the
#      `Authenticated` extractor, verified-token cache off) and /cached (cache on);
#   4. on the other core, measures requests/second of each route (bearer token sent to all
#      three) under two loads, after a warm-up, in ROUNDS interleaved rounds of short runs: odd
#      rounds go plain, guarded, cached and even rounds the other way, so the host's drift
#      (10-20 % within a minute on a shared VM) falls on the routes alike; each round's ratios
#      are paired figures and their medians are the verdicts. The loads: wrk, and
#      `guard_bench poll`, keep-alive connections polled without ever sleeping (see
#      guard_bench.rs: on a VM, a response that must wake wrk's idle virtual CPU costs the server
#      ~10 µs of kernel time, and wrk idles only on the slow route);
#   5. prints, for each load: cached ÷ plain throughput (target ≥ 0.9×), and the CPU time the
#      guard adds per request, 1/guarded − 1/plain, against one raw jsonwebtoken verification
#      (target ≤ 1.2×).
#
# Both the server (one tokio worker) and the raw measurement run on CPU $SERVER_CPU, the load on
# $LOADGEN_CPU, so the figures are per server core. Runs where other processes used more than
# NOISE_LIMIT % of either CPU are flagged "disturbed" (rerun on a quiet machine).
#
# A/B: BIN=/path/to/another/guard_bench (with SKIP_BUILD=1) measures that build instead.
#
# Bounds: each load run lasts DURATION seconds (wrk: and at most MAX_REQUESTS requests per
# thread) and is killed by `timeout` if it overstays. About ROUNDS × (6 × (WARMUP + DURATION) + 4)
# + 10 s after the build. 32 connections keep the one server core busy (with 8 it idled 20-30 % of the time
# waiting for round trips, so the figures measured latency rather than the guard's CPU cost).
#
# Environment knobs (defaults in brackets):
#   DURATION [3]  WARMUP [1]  CONNECTIONS [32]  ROUNDS [6]  WRK_THREADS [1]  MAX_REQUESTS [1000000]
#   SERVER_CPU [1]  LOADGEN_CPU [0]  NOISE_LIMIT [10]  SKIP_BUILD [unset: build]
#   CARGO_TARGET_DIR [target]
set -euo pipefail

DURATION=${DURATION:-3}
WARMUP=${WARMUP:-1}
CONNECTIONS=${CONNECTIONS:-32}
ROUNDS=${ROUNDS:-6}
WRK_THREADS=${WRK_THREADS:-1}
MAX_REQUESTS=${MAX_REQUESTS:-1000000}
SERVER_CPU=${SERVER_CPU:-1}
LOADGEN_CPU=${LOADGEN_CPU:-0}

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$BENCH_DIR/.." && pwd)
cd "$ROOT"

log() { printf '[guard.sh] %s\n' "$*" >&2; }
die() { printf '[guard.sh] error: %s\n' "$*" >&2; exit 1; }
# shellcheck source=bench/lib.sh
source "$BENCH_DIR/lib.sh"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/portcullis-guard.XXXXXX")
SERVER_PID=""
cleanup() {
  local status=$?
  trap - EXIT INT TERM
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  [[ $status -eq 0 ]] || tail -n 20 "$TMP/server.log" >&2 2>/dev/null || true
  rm -rf "$TMP"
  exit "$status"
}
trap cleanup EXIT INT TERM

command -v wrk >/dev/null || die "wrk is not installed (Debian: apt-get install wrk)"
command -v taskset >/dev/null || die "taskset is not installed (Debian: util-linux)"
(( $(nproc --all) >= 2 )) && [[ $SERVER_CPU != "$LOADGEN_CPU" ]] ||
  die "needs two distinct CPUs (SERVER_CPU=$SERVER_CPU, LOADGEN_CPU=$LOADGEN_CPU)"
ON_SERVER_CPU=(taskset -c "$SERVER_CPU")
ON_LOADGEN_CPU=(taskset -c "$LOADGEN_CPU")

if [[ -z ${SKIP_BUILD:-} ]]; then
  log "cargo build --release -p portcullis-axum --example guard_bench"
  cargo build --release -p portcullis-axum --example guard_bench >&2
fi
BIN=${BIN:-"${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/guard_bench"}
[[ -x $BIN ]] || die "$BIN is missing (run without SKIP_BUILD)"

# One raw jsonwebtoken RS256 verification, on the server core: measured at the start of every
# round (the app idles meanwhile), so each round's guard cost is compared with a raw figure
# taken in the same minute.
declare -A RAW CPU_NOTE_RAW
measure_raw() {
  local round=$1 out="$TMP/raw-$1.txt"
  log "round $round: raw jsonwebtoken RS256 verification on CPU $SERVER_CPU"
  WATCHED_OUT="$out" watched - timeout 120 "${ON_SERVER_CPU[@]}" "$BIN" raw 20000 ||
    die "raw measurement failed: $(cat "$out")"
  RAW[$round]=$(sed -n 's/^RAW_JSONWEBTOKEN_US=//p' "$out")
  [[ -n ${RAW[$round]} ]] || die "no RAW_JSONWEBTOKEN_US in: $(cat "$out")"
  CPU_NOTE_RAW[$round]="raw ${SHARE_SELF} %, others ${SHARE_SRV_OTHER} % | CPU $LOADGEN_CPU others ${SHARE_GEN_OTHER} %"
  check_noise "raw-$round"
  log "round $round: raw jsonwebtoken ${RAW[$round]} µs per verification (${CPU_NOTE_RAW[$round]})"
}

# The app under load.
RUST_LOG=${RUST_LOG:-warn} "${ON_SERVER_CPU[@]}" "$BIN" serve >"$TMP/server.out" 2>"$TMP/server.log" &
SERVER_PID=$!
for _ in $(seq 300); do
  grep -q '^TOKEN=' "$TMP/server.out" 2>/dev/null && break
  kill -0 "$SERVER_PID" 2>/dev/null || die "guard_bench exited during start-up"
  sleep 0.1
done
PORT=$(sed -n 's/^PORT=//p' "$TMP/server.out")
TOKEN=$(sed -n 's/^TOKEN=//p' "$TMP/server.out")
[[ -n $PORT && -n $TOKEN ]] || die "guard_bench printed no PORT/TOKEN"
APP="http://127.0.0.1:$PORT"
for route in plain guarded cached; do
  code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $TOKEN" "$APP/$route")
  [[ $code == 200 ]] || die "/$route answered $code before the load"
done
code=$(curl -s -o /dev/null -w '%{http_code}' "$APP/guarded")
[[ $code == 401 ]] || die "/guarded without a token answered $code, not 401"

# The polling load generator (guard_bench poll): like run_wrk, without wrk's sleeps.
run_poll() {
  local key=$1 pid=$2 url=$3 out="$TMP/poll-$1.txt"
  log "$key: guard_bench poll, $CONNECTIONS connections, ${DURATION}s after ${WARMUP}s, $url"
  WATCHED_OUT=$out watched "$pid" timeout $((WARMUP + DURATION + 15)) "${ON_LOADGEN_CPU[@]}" \
    "$BIN" poll "$url" "$TOKEN" "$CONNECTIONS" "$WARMUP" "$DURATION" ||
    die "$key: the polling load failed: $(cat "$out")"
  RPS[$key]=$(sed -n 's/^REQUESTS_PER_SEC=//p' "$out")
  [[ -n ${RPS[$key]} ]] || die "$key: no REQUESTS_PER_SEC in: $(cat "$out")"
  CPU_NOTE[$key]="server ${SHARE_SELF} %, others ${SHARE_SRV_OTHER} % | load ${SHARE_GEN} %, others ${SHARE_GEN_OTHER} %"
  log "$key: ${RPS[$key]} requests/s; CPU $SERVER_CPU / CPU $LOADGEN_CPU: ${CPU_NOTE[$key]}"
  check_noise "$key"
}

# Rounds interleave the routes, forwards then backwards (plain, guarded, cached, cached,
# guarded, plain, …), each under both loads, so drift on a shared host falls on all alike.
declare -A RPS CPU_NOTE
ROUTES=(plain guarded cached)
LOADS=(wrk poll)
for round in $(seq "$ROUNDS"); do
  measure_raw "$round"
  order=("${ROUTES[@]}")
  (( round % 2 )) || order=(cached guarded plain)
  for route in "${order[@]}"; do
    run_wrk "wrk-$route-$round" "$SERVER_PID" "$APP/$route" GET "" "Bearer $TOKEN"
    run_poll "poll-$route-$round" "$SERVER_PID" "$APP/$route"
  done
done
# median FORMAT VALUE… — the median of the values, printed with printf FORMAT.
median() {
  local format=$1; shift
  printf '%s\n' "$@" | sort -n |
    awk -v f="$format" '{v[NR] = $1} END {printf f, (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'
}
at_most() { awk -v v="$1" -v t="$2" 'BEGIN {print (v <= t ? "met" : "not met")}'; }
values=()
for round in $(seq "$ROUNDS"); do values+=("${RAW[$round]}"); done
RAW_US=$(median %.2f "${values[@]}")

echo
echo "portcullis-axum bearer guard; server (1 tokio worker) on CPU $SERVER_CPU, load on CPU $LOADGEN_CPU;" \
  "$CONNECTIONS connections, ${DURATION} s after a ${WARMUP} s warm-up per run, $ROUNDS interleaved rounds;" \
  "RS256 token of $(( ${#TOKEN} )) bytes; raw jsonwebtoken RS256 verification on CPU $SERVER_CPU," \
  "median of the rounds: $RAW_US µs"
for load in "${LOADS[@]}"; do
  for route in "${ROUTES[@]}"; do
    values=()
    for round in $(seq "$ROUNDS"); do values+=("${RPS[$load-$route-$round]}"); done
    RPS[$load-$route]=$(median %.0f "${values[@]}")
  done
  # Paired figures: each round's ratios (its routes measured seconds apart, its raw figure in
  # the same minute), then their median.
  ROUND_RATIOS=() ROUND_ADDED=()
  for round in $(seq "$ROUNDS"); do
    ROUND_RATIOS+=("$(ratio "${RPS[$load-cached-$round]}" "${RPS[$load-plain-$round]}")")
    ROUND_ADDED+=("$(awk -v g="${RPS[$load-guarded-$round]}" -v p="${RPS[$load-plain-$round]}" \
      -v r="${RAW[$round]}" 'BEGIN {printf "%.2f", (1e6 / g - 1e6 / p) / r}')")
  done
  CACHED_RATIO=$(ratio "${RPS[$load-cached]}" "${RPS[$load-plain]}")
  PAIRED_RATIO=$(median %.2f "${ROUND_RATIOS[@]}")
  ADDED_US=$(awk -v g="${RPS[$load-guarded]}" -v p="${RPS[$load-plain]}" 'BEGIN {printf "%.2f", 1e6 / g - 1e6 / p}')
  ADDED_OF_RAW=$(ratio "$ADDED_US" "$RAW_US")
  PAIRED_ADDED=$(median %.2f "${ROUND_ADDED[@]}")
  echo
  case $load in
    wrk) echo "### Load: wrk -t$WRK_THREADS (sleeps in epoll_wait while every connection waits)" ;;
    poll) echo "### Load: guard_bench poll (non-blocking sockets polled in a loop, never sleeps)" ;;
  esac
  echo
  echo "| round | raw jsonwebtoken µs | /plain (no auth) req/s | /guarded (cache off) | /cached (cache on) | cached ÷ plain | added ÷ raw |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for round in $(seq "$ROUNDS"); do
    echo "| $round | ${RAW[$round]} | ${RPS[$load-plain-$round]} | ${RPS[$load-guarded-$round]} |" \
      "${RPS[$load-cached-$round]} | ${ROUND_RATIOS[$((round - 1))]}× | ${ROUND_ADDED[$((round - 1))]}× |"
  done
  echo "| **median** | $RAW_US | ${RPS[$load-plain]} | ${RPS[$load-guarded]} | ${RPS[$load-cached]} | ${PAIRED_RATIO}× | ${PAIRED_ADDED}× |"
  echo
  echo "| figure | value | target |"
  echo "|---|---|---|"
  echo "| cached ÷ plain (medians of each route) | ${CACHED_RATIO}× | ≥ 0.9× — $(verdict "$CACHED_RATIO" 0.9) |"
  echo "| cached ÷ plain (median of the rounds' ratios) | ${PAIRED_RATIO}× | ≥ 0.9× — $(verdict "$PAIRED_RATIO" 0.9) |"
  echo "| CPU added per request by the guard (1/guarded − 1/plain, medians) | ${ADDED_US} µs | |"
  echo "| added ÷ raw (medians) | ${ADDED_OF_RAW}× | ≤ 1.2× — $(at_most "$ADDED_OF_RAW" 1.2) |"
  echo "| added ÷ raw (median of the rounds' ratios) | ${PAIRED_ADDED}× | ≤ 1.2× — $(at_most "$PAIRED_ADDED" 1.2) |"
done
echo
echo "CPU use during each measurement (CPU $SERVER_CPU: server / others | CPU $LOADGEN_CPU: load / others):"
for round in $(seq "$ROUNDS"); do
  echo "- raw, round $round: ${CPU_NOTE_RAW[$round]}"
  for load in "${LOADS[@]}"; do
    for route in "${ROUTES[@]}"; do echo "- $load $route, round $round: ${CPU_NOTE[$load-$route-$round]}"; done
  done
done
if (( ${#DISTURBED[@]} > 0 )); then
  echo
  echo "**Disturbed** (other processes used more than ${NOISE_LIMIT} % of a core): ${DISTURBED[*]}"
fi
