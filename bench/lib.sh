# Shared helpers of the load benchmarks (bench/load.sh, bench/guard.sh). Sourced, not run.
# The caller sets: BENCH_DIR, TMP, SERVER_CPU, LOADGEN_CPU, ON_LOADGEN_CPU (array), WARMUP,
# DURATION, CONNECTIONS, WRK_THREADS, MAX_REQUESTS, and declares the associative arrays RPS and
# CPU_NOTE; log and die must exist.

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# Waits until URL answers 200, for at most $2 seconds, while pid $3 lives.
wait_for() {
  local url=$1 deadline=$((SECONDS + $2)) pid=$3
  until curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || die "the server behind $url exited during start-up"
    (( SECONDS < deadline )) || die "$url did not answer within $2 s"
    sleep 0.1
  done
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
mib() { awk -v k="$1" 'BEGIN {printf "%.1f", k / 1024}'; }
# CPU time (clock ticks) of a process, all threads: utime + stime (fields 14 and 15 of stat,
# counted after the parenthesised command name).
proc_ticks() { sed 's/^.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }
# Busy and total ticks of CPU $1, from /proc/stat. Busy is user + nice + system + steal: time
# spent in interrupts (loopback networking of the run itself, at high request rates) is left out,
# so that "others" below means other processes, or the hypervisor taking the CPU (steal).
core_ticks() {
  awk -v c="cpu$1" '$1 == c {
    total = 0; for (i = 2; i <= 9; i++) total += $i; print $2 + $3 + $4 + $9, total }' /proc/stat
}
TICKS=$(getconf CLK_TCK)
pct_of() { awk -v a="$1" -v b="$2" 'BEGIN {v = b > 0 ? 100 * a / b : 0; printf "%.0f", v < 0 ? 0 : v}'; }
# Runs a command (timed with bash's `time`) while watching both CPUs. Sets:
#   SHARE_SELF  % of CPU $SERVER_CPU used by process $1 (or, for $1 = -, by the command itself)
#   SHARE_SRV_OTHER  % of CPU $SERVER_CPU used by anything else
#   SHARE_GEN  % of CPU $LOADGEN_CPU used by the command
#   SHARE_GEN_OTHER  % of CPU $LOADGEN_CPU used by anything else
# Usage: watched PID|- COMMAND...
watched() {
  local pid=$1 p0=0 p1=0 sb0 st0 sb1 st1 gb0 gt0 gb1 gt1 cmd_ticks
  shift
  [[ $pid == - ]] || p0=$(proc_ticks "$pid")
  read -r sb0 st0 < <(core_ticks "$SERVER_CPU"); read -r gb0 gt0 < <(core_ticks "$LOADGEN_CPU")
  local TIMEFORMAT='%3U %3S' timing status=0
  timing=$( { time "$@" >"$WATCHED_OUT" 2>&1; } 2>&1 ) || status=$?
  read -r sb1 st1 < <(core_ticks "$SERVER_CPU"); read -r gb1 gt1 < <(core_ticks "$LOADGEN_CPU")
  [[ $pid == - ]] || p1=$(proc_ticks "$pid")
  cmd_ticks=$(awk -v u="${timing% *}" -v s="${timing#* }" -v h="$TICKS" 'BEGIN {printf "%d", (u + s) * h}')
  if [[ $pid == - ]]; then
    SHARE_SELF=$(pct_of "$cmd_ticks" $((st1 - st0)))
    SHARE_SRV_OTHER=$(pct_of $((sb1 - sb0 - cmd_ticks)) $((st1 - st0)))
    SHARE_GEN=0
    SHARE_GEN_OTHER=$(pct_of $((gb1 - gb0)) $((gt1 - gt0)))
  else
    SHARE_SELF=$(pct_of $((p1 - p0)) $((st1 - st0)))
    SHARE_SRV_OTHER=$(pct_of $((sb1 - sb0 - (p1 - p0))) $((st1 - st0)))
    SHARE_GEN=$(pct_of "$cmd_ticks" $((gt1 - gt0)))
    SHARE_GEN_OTHER=$(pct_of $((gb1 - gb0 - cmd_ticks)) $((gt1 - gt0)))
  fi
  return "$status"
}
DISTURBED=()
# Others using more than this % of a core during a measurement make it "disturbed".
NOISE_LIMIT=${NOISE_LIMIT:-10}
check_noise() {
  if (( SHARE_SRV_OTHER > NOISE_LIMIT || SHARE_GEN_OTHER > NOISE_LIMIT )); then
    log "warning: during $1 other processes used ${SHARE_SRV_OTHER} % of CPU $SERVER_CPU and" \
      "${SHARE_GEN_OTHER} % of CPU $LOADGEN_CPU: this figure is disturbed; rerun on a quiet machine"
    DISTURBED+=("$1")
  fi
}

# run_wrk KEY PID URL METHOD BODY AUTH — PID is the server under load. Its share of its core is
# recorded: near 100 % means the figure is the server's own cost per request; clearly less means
# it waited (for the load generator, locks, the database).
run_wrk() {
  local key=$1 pid=$2 url=$3 method=$4 body=$5 auth=$6 out="$TMP/wrk-$1.txt" rps non2xx errors
  local wrk_env=(BENCH_METHOD="$method" BENCH_BODY="$body" BENCH_AUTH="$auth" BENCH_MAX="$MAX_REQUESTS")
  if (( WARMUP > 0 )); then
    env "${wrk_env[@]}" timeout $((WARMUP + 10)) "${ON_LOADGEN_CPU[@]}" wrk -t"$WRK_THREADS" \
      -c"$CONNECTIONS" -d"${WARMUP}s" -s "$BENCH_DIR/wrk-request.lua" "$url" >/dev/null
  fi
  log "$key: wrk -t$WRK_THREADS -c$CONNECTIONS -d${DURATION}s $method $url"
  WATCHED_OUT=$out watched "$pid" env "${wrk_env[@]}" timeout $((DURATION + 15)) \
    "${ON_LOADGEN_CPU[@]}" wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency \
    -s "$BENCH_DIR/wrk-request.lua" "$url" || die "$key: wrk failed: $(cat "$out")"
  rps=$(awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$out")
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$out")
  errors=$(awk '/Socket errors:/ {print}' "$out")
  [[ -n $rps ]] || die "$key: no Requests/sec in wrk output: $(cat "$out")"
  [[ -z $non2xx ]] || die "$key: $non2xx responses were not 2xx: $(cat "$out")"
  [[ -z $errors ]] || log "$key: $errors"
  RPS[$key]=$rps
  CPU_NOTE[$key]="server ${SHARE_SELF} %, others ${SHARE_SRV_OTHER} % | wrk ${SHARE_GEN} %, others ${SHARE_GEN_OTHER} %"
  log "$key: $rps requests/s ($(awk '/requests in/ {print $1}' "$out") requests;" \
    "latency p50 $(awk '$1 == "50%" {print $2}' "$out"), p99 $(awk '$1 == "99%" {print $2}' "$out"));" \
    "CPU $SERVER_CPU / CPU $LOADGEN_CPU: ${CPU_NOTE[$key]}"
  check_noise "$key"
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN {printf "%.2f", a / b}'; }
verdict() { awk -v v="$1" -v t="$2" 'BEGIN {print (v >= t ? "met" : "not met")}'; }
