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
#   4. with wrk on the other core, measures requests/second of each route (bearer token sent to
#      all three), after a warm-up, in ROUNDS interleaved rounds (medians are compared);
#   5. prints: cached ÷ plain throughput (target ≥ 0.9×), and the CPU time the guard adds per
#      request, 1/guarded − 1/plain, against one raw jsonwebtoken verification (target ≤ 1.2×).
#
# Both the server (one tokio worker) and the raw measurement run on CPU $SERVER_CPU, wrk on
# $LOADGEN_CPU, so the figures are per server core. Runs where other processes used more than
# NOISE_LIMIT % of either CPU are flagged "disturbed" (rerun on a quiet machine).
#
# Bounds: each wrk run lasts DURATION seconds (and at most MAX_REQUESTS requests per thread) and
# is killed by `timeout` if it overstays. About ROUNDS × 3 × (WARMUP + DURATION) + 10 s after the
# build. 32 connections keep the one server core busy (with 8 it idled 20-30 % of the time
# waiting for round trips, so the figures measured latency rather than the guard's CPU cost).
#
# Environment knobs (defaults in brackets):
#   DURATION [10]  WARMUP [2]  CONNECTIONS [32]  ROUNDS [3]  WRK_THREADS [1]  MAX_REQUESTS [1000000]
#   SERVER_CPU [1]  LOADGEN_CPU [0]  NOISE_LIMIT [10]  SKIP_BUILD [unset: build]
#   CARGO_TARGET_DIR [target]
set -euo pipefail

DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNECTIONS=${CONNECTIONS:-32}
ROUNDS=${ROUNDS:-3}
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
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/examples/guard_bench"
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

# Rounds interleave the routes (plain, guarded, cached, plain, …) so drift on a shared host
# falls on all three alike; the verdicts use each route's median over the rounds.
declare -A RPS CPU_NOTE
ROUTES=(plain guarded cached)
for round in $(seq "$ROUNDS"); do
  measure_raw "$round"
  for route in "${ROUTES[@]}"; do
    run_wrk "$route-$round" "$SERVER_PID" "$APP/$route" GET "" "Bearer $TOKEN"
  done
done
# median FORMAT VALUE… — the median of the values, printed with printf FORMAT.
median() {
  local format=$1; shift
  printf '%s\n' "$@" | sort -n |
    awk -v f="$format" '{v[NR] = $1} END {printf f, (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)}'
}
for route in "${ROUTES[@]}"; do
  values=()
  for round in $(seq "$ROUNDS"); do values+=("${RPS[$route-$round]}"); done
  RPS[$route]=$(median %.0f "${values[@]}")
done

values=()
for round in $(seq "$ROUNDS"); do values+=("${RAW[$round]}"); done
RAW_US=$(median %.2f "${values[@]}")
CACHED_RATIO=$(ratio "${RPS[cached]}" "${RPS[plain]}")
# The paired figure: each round's cached ÷ plain (measured seconds apart), then their median.
ROUND_RATIOS=()
for round in $(seq "$ROUNDS"); do ROUND_RATIOS+=("$(ratio "${RPS[cached-$round]}" "${RPS[plain-$round]}")"); done
PAIRED_RATIO=$(median %.2f "${ROUND_RATIOS[@]}")
ADDED_US=$(awk -v g="${RPS[guarded]}" -v p="${RPS[plain]}" 'BEGIN {printf "%.2f", 1e6 / g - 1e6 / p}')
ADDED_OF_RAW=$(ratio "$ADDED_US" "$RAW_US")
# Paired: each round's added CPU over that round's raw verification, then their median.
ROUND_ADDED=()
for round in $(seq "$ROUNDS"); do
  ROUND_ADDED+=("$(awk -v g="${RPS[guarded-$round]}" -v p="${RPS[plain-$round]}" -v r="${RAW[$round]}" \
    'BEGIN {printf "%.2f", (1e6 / g - 1e6 / p) / r}')")
done
PAIRED_ADDED=$(median %.2f "${ROUND_ADDED[@]}")
echo
echo "portcullis-axum bearer guard; server (1 tokio worker) on CPU $SERVER_CPU, wrk on CPU $LOADGEN_CPU;" \
  "wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s after a ${WARMUP} s warm-up, $ROUNDS interleaved rounds;" \
  "RS256 token of $(( ${#TOKEN} )) bytes"
echo
echo "| round | raw jsonwebtoken µs | /plain (no auth) req/s | /guarded (cache off) | /cached (cache on) | cached ÷ plain | added ÷ raw |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for round in $(seq "$ROUNDS"); do
  echo "| $round | ${RAW[$round]} | ${RPS[plain-$round]} | ${RPS[guarded-$round]} | ${RPS[cached-$round]} |" \
    "${ROUND_RATIOS[$((round - 1))]}× | ${ROUND_ADDED[$((round - 1))]}× |"
done
echo "| **median** | $RAW_US | ${RPS[plain]} | ${RPS[guarded]} | ${RPS[cached]} | ${PAIRED_RATIO}× | ${PAIRED_ADDED}× |"
echo
echo "| figure | value | target |"
echo "|---|---|---|"
echo "| cached ÷ plain (medians of each route) | ${CACHED_RATIO}× | ≥ 0.9× — $(verdict "$CACHED_RATIO" 0.9) |"
echo "| cached ÷ plain (median of the rounds' ratios) | ${PAIRED_RATIO}× | ≥ 0.9× — $(verdict "$PAIRED_RATIO" 0.9) |"
echo "| CPU added per request by the guard (1/guarded − 1/plain) | ${ADDED_US} µs | |"
echo "| raw jsonwebtoken RS256 verification, same core (median) | ${RAW_US} µs | |"
echo "| added ÷ raw (medians) | ${ADDED_OF_RAW}× | ≤ 1.2× — $(awk -v v="$ADDED_OF_RAW" 'BEGIN {print (v <= 1.2 ? "met" : "not met")}') |"
echo "| added ÷ raw (median of the rounds' ratios) | ${PAIRED_ADDED}× | ≤ 1.2× — $(awk -v v="$PAIRED_ADDED" 'BEGIN {print (v <= 1.2 ? "met" : "not met")}') |"
echo
echo "CPU use during each measurement (CPU $SERVER_CPU: server / others | CPU $LOADGEN_CPU: wrk / others):"
for round in $(seq "$ROUNDS"); do
  echo "- raw, round $round: ${CPU_NOTE_RAW[$round]}"
  for route in "${ROUTES[@]}"; do echo "- $route, round $round: ${CPU_NOTE[$route-$round]}"; done
done
if (( ${#DISTURBED[@]} > 0 )); then
  echo
  echo "**Disturbed** (other processes used more than ${NOISE_LIMIT} % of a core): ${DISTURBED[*]}"
fi
