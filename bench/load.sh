#!/usr/bin/env bash
# Measures the gateway under load on loopback, against the backend called
# directly, in one run: requests/s, p50/p99 latency, the gateway's CPU time per
# request and its peak RSS. bench/README.md explains how to read the results.
#
#   bench/load.sh                  # 3 rounds × 3 targets × 10 s
#   BENCH_QUICK=1 bench/load.sh    # 2 s per run: checks that it works
#
# Settings (environment):
#   ROUNDS=3          rounds; each runs direct, gateway-http, gateway-rpc in turn
#   DURATION=10       seconds per run (BENCH_QUICK=1 makes it 2)
#   WARMUP=2          seconds of untimed load per target before round 1 (quick: 1)
#   CONNECTIONS=64    wrk connections
#   THREADS=1         wrk threads
#   GATEWAY_PROCS=1   GOMAXPROCS of the gateway
#   LOG_LEVEL=warn    gateway log level; info adds one access-log line per request
#   PIN=1             pin with taskset when it exists: gateway on CPU 0, wrk and
#                     the backend on CPU 1; PIN=0 leaves scheduling to the kernel
#   INSTALL=1         install wrk with apt-get when it is missing
#   KEEP=1            keep the work directory (binaries, config, logs, wrk output)
#   RESULTS=DIR       where the report is also saved (default bench/results, which
#                     git ignores); RESULTS= (empty) saves nothing
#
# Everything listens on 127.0.0.1 only, on free ports. Every process the script
# starts is killed when it exits, however it exits; every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
if [[ ${BENCH_QUICK:-0} == 1 ]]; then
  DURATION=2
  WARMUP=1
fi
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
GATEWAY_PROCS=${GATEWAY_PROCS:-1}
LOG_LEVEL=${LOG_LEVEL:-warn}
PIN=${PIN:-1}
RESULTS=${RESULTS-bench/results}
TARGETS=(direct gateway-http gateway-rpc)

die() { echo "load.sh: $*" >&2; exit 1; }
for v in ROUNDS DURATION WARMUP CONNECTIONS THREADS GATEWAY_PROCS; do
  [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || [[ $v == WARMUP && ${!v} == 0 ]] || die "$v must be a positive whole number, got '${!v}'"
done

# --- wrk -------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
  if [[ ${INSTALL:-0} == 1 ]]; then
    sudo=()
    [[ $(id -u) == 0 ]] || sudo=(sudo)
    echo "installing wrk..." >&2
    "${sudo[@]}" apt-get install -y wrk >&2 || { "${sudo[@]}" apt-get update >&2 && "${sudo[@]}" apt-get install -y wrk >&2; }
  else
    die "wrk is not installed. On Debian or Ubuntu: apt-get install -y wrk (as root),
or run this script with INSTALL=1 to have it do that."
  fi
fi
command -v go >/dev/null || die "go is not on PATH"
[[ -r /proc/self/stat ]] || die "needs Linux /proc"

# --- processes and cleanup -------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench.XXXXXX")
pids=()
cleanup() {
  local status=$?
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [[ ${KEEP:-0} == 1 ]]; then
    echo "work directory kept: $work" >&2
  else
    rm -rf "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Pinning: taskset with at least two CPUs, unless PIN=0.
pin_gw=() pin_load=() pinned=no
if [[ $PIN == 1 ]] && command -v taskset >/dev/null && [[ $(nproc --all 2>/dev/null || echo 1) -ge 2 ]] &&
   taskset -c 0 true 2>/dev/null && taskset -c 1 true 2>/dev/null; then
  pin_gw=(taskset -c 0) pin_load=(taskset -c 1) pinned=yes
fi

echo "building the gateway and the greeter..." >&2
go build -o "$work/bin/" ./cmd/gateway ./examples/greeter

# listen_addr LOG PID: waits (at most 10 s) for the JSON log line
# {..."msg":"listening",...,"address":"127.0.0.1:PORT"} and prints the address.
listen_addr() {
  local log=$1 pid=$2 addr
  for _ in $(seq 1 100); do
    addr=$(sed -n '/"msg":"listening"/s/.*"address":"\(127\.0\.0\.1:[0-9]*\)".*/\1/p' "$log" 2>/dev/null | head -n 1)
    if [[ -n $addr ]]; then echo "$addr"; return 0; fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "load.sh: no listening address in $log:" >&2
  tail -n 20 "$log" >&2 || true
  return 1
}

"${pin_load[@]}" "$work/bin/greeter" -listen 127.0.0.1:0 2>"$work/greeter.log" &
greeter_pid=$!
pids+=("$greeter_pid")
backend=$(listen_addr "$work/greeter.log" "$greeter_pid")

# free_port: a loopback port that no socket uses now, below the usual
# ephemeral range so that outgoing connections do not take it meanwhile.
free_port() {
  local port hex
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 12000))
    printf -v hex ':%04X ' "$port"
    grep -q "$hex" /proc/net/tcp /proc/net/tcp6 2>/dev/null || { echo "$port"; return 0; }
  done
  die "found no free port"
}
# up HOSTPORT: whether something accepts connections there.
up() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

# The gateway logs its address at level info only, so it gets a port chosen
# here; if another process takes that port first, the gateway exits and the
# next attempt picks another.
for attempt in 1 2 3 4 5; do
  gateway=127.0.0.1:$(free_port)
  cat >"$work/gateway.yaml" <<YAML
# Generated by bench/load.sh.
listeners:
  - address: $gateway
registry:
  kind: static
  static:
    - {service: greeter, address: $backend}
routes:
  - name: greeter-http
    method: GET
    path: /greeter/*
    service: greeter
    rewrite: /
  - name: greet
    method: GET
    path: /greet/{name}
    service: greeter
    endpoint: Greeter.Hello
YAML
  GOMAXPROCS=$GATEWAY_PROCS "${pin_gw[@]}" "$work/bin/gateway" -config "$work/gateway.yaml" -log-level "$LOG_LEVEL" \
    >"$work/gateway.log" 2>&1 &
  gw_pid=$!
  pids+=("$gw_pid")
  for _ in $(seq 1 100); do
    up "$gateway" && break
    kill -0 "$gw_pid" 2>/dev/null || break
    sleep 0.1
  done
  up "$gateway" && kill -0 "$gw_pid" 2>/dev/null && break
  kill "$gw_pid" 2>/dev/null || true
  wait "$gw_pid" 2>/dev/null || true
  grep -q "address already in use" "$work/gateway.log" && [[ $attempt -lt 5 ]] && continue
  die "the gateway did not start on $gateway; its log says: $(tail -n 5 "$work/gateway.log")"
done

declare -A url=(
  [direct]="http://$backend/hello/bench"
  [gateway-http]="http://$gateway/greeter/hello/bench"
  [gateway-rpc]="http://$gateway/greet/bench"
)

# probe URL: prints the answer (status line, header, body) to one GET, sent
# with bash's /dev/tcp so that no HTTP client is needed besides wrk.
probe() {
  local hostport=${1#http://} path
  path=/${hostport#*/}
  hostport=${hostport%%/*}
  exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}" || return 1
  printf 'GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n' "$path" "$hostport" >&3
  timeout 5 cat <&3
  exec 3<&-
}
# Every target must answer 200 with the greeting before any load is sent.
for t in "${TARGETS[@]}"; do
  answer=$(probe "${url[$t]}" || true)
  [[ $answer == "HTTP/1.1 200"* && $answer == *'"Hello, bench!"'* ]] ||
    die "$t (${url[$t]}) does not answer 200 with the greeting; it answered:
$answer"
done

# --- measurement -----------------------------------------------------------
ticks=$(getconf CLK_TCK)

# cpu_ticks PID: utime + stime of a process, in clock ticks. Fields after the
# command name, which may hold spaces, start at field 3 (state).
cpu_ticks() {
  local stat rest f
  stat=$(<"/proc/$1/stat")
  rest=${stat##*) }
  read -r -a f <<<"$rest"
  echo $((f[11] + f[12]))
}
# hwm_kib PID: the peak resident set size (VmHWM) in KiB.
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
# reset_hwm PID: starts a new peak (Linux 4.0+; harmless where refused).
reset_hwm() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null || true; }
# to_ms VALUE: wrk's latency (1.23ms, 456.00us, 1.02s, 1.5m) in milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : -1
    if (f < 0) { print "nan"; exit }
    printf "%.3f", n * f }'
}

mkdir -p "$work/runs"
hwm_reset_ok=no
reset_hwm "$gw_pid"
[[ -w /proc/$gw_pid/clear_refs ]] && hwm_reset_ok=yes

# run TARGET SECONDS [LABEL]: one wrk run; with a label, records the results.
run() {
  local target=$1 secs=$2 label=${3:-} out gw0 gw1 be0 be1 reqs
  out="$work/runs/${label:-warmup}-$target.txt"
  reset_hwm "$gw_pid"
  gw0=$(cpu_ticks "$gw_pid") be0=$(cpu_ticks "$greeter_pid")
  "${pin_load[@]}" timeout $((secs + 30)) wrk -t "$THREADS" -c "$CONNECTIONS" -d "${secs}s" --timeout 5s --latency \
    "${url[$target]}" >"$out" 2>&1 || die "wrk failed on $target: $(cat "$out")"
  gw1=$(cpu_ticks "$gw_pid") be1=$(cpu_ticks "$greeter_pid")
  kill -0 "$gw_pid" 2>/dev/null || die "the gateway died; see its log"
  [[ -z $label ]] && return 0
  reqs=$(awk '/requests in/ {print $1; exit}' "$out")
  [[ $reqs =~ ^[0-9]+$ && $reqs -gt 0 ]] || die "no requests counted in $out: $(cat "$out")"
  local bad errs
  bad=$(awk -F': *' '/Non-2xx or 3xx responses/ {print $2}' "$out")
  errs=$(awk '/Socket errors/ {sub(/.*Socket errors: */, ""); print}' "$out")
  [[ -z $bad ]] || echo "WARNING: $target: $bad non-2xx answers (see KEEP=1 output)" >&2
  [[ -z $errs ]] || echo "WARNING: $target: socket errors: $errs" >&2
  {
    echo "rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")"
    echo "p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")"
    echo "p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")"
    echo "gwcpu=$(awk -v d=$((gw1 - gw0)) -v t="$ticks" -v n="$reqs" 'BEGIN {printf "%.2f", d / t * 1e6 / n}')"
    echo "becpu=$(awk -v d=$((be1 - be0)) -v t="$ticks" -v n="$reqs" 'BEGIN {printf "%.2f", d / t * 1e6 / n}')"
    echo "rss=$(awk -v k="$(hwm_kib "$gw_pid")" 'BEGIN {printf "%.1f", k / 1024}')"
    echo "reqs=$reqs"
  } >"$work/runs/$label-$target.kv"
}

where="unpinned"
[[ $pinned == yes ]] && where="gateway on CPU 0, wrk and greeter on CPU 1"
echo "pinning: $where; gateway GOMAXPROCS=$GATEWAY_PROCS" >&2
read -r load1 _ </proc/loadavg
if awk -v l="$load1" 'BEGIN {exit !(l > 0.5)}'; then
  echo "WARNING: load average $load1 before the run: other processes use the CPUs, so the numbers will be noisy" >&2
fi
echo "runs: $ROUNDS rounds × ${#TARGETS[@]} targets × ${DURATION}s, wrk -t$THREADS -c$CONNECTIONS, warm-up ${WARMUP}s per target" >&2
if [[ $WARMUP -gt 0 ]]; then
  for t in "${TARGETS[@]}"; do run "$t" "$WARMUP"; done
fi
for r in $(seq 1 "$ROUNDS"); do
  for t in "${TARGETS[@]}"; do
    run "$t" "$DURATION" "r$r"
    kv="$work/runs/r$r-$t.kv"
    printf '  round %d %-13s %s\n' "$r" "$t" "$(grep -E '^(rps|p50|p99|gwcpu)=' "$kv" | paste -sd' ')" >&2
  done
done

# --- report ----------------------------------------------------------------
# median TARGET KEY: the median over rounds of one value.
median() {
  cat "$work"/runs/r*-"$1".kv | awk -F= -v k="$2" '$1 == k {print $2}' | sort -g |
    awk '{v[NR] = $1} END {if (NR == 0) print "nan"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
declare -A med
for t in "${TARGETS[@]}"; do
  for k in rps p50 p99 gwcpu becpu rss; do med[$t.$k]=$(median "$t" "$k"); done
done
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (b + 0 == 0) print "-"; else printf "%.2f", a / b}'; }

report() {
  echo "Sluice load test: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || echo unknown)), $(go env GOVERSION)"
  echo "medians of $ROUNDS rounds of ${DURATION}s; wrk -t$THREADS -c$CONNECTIONS; pinned: $pinned; gateway GOMAXPROCS=$GATEWAY_PROCS, log level $LOG_LEVEL; RSS peak reset per run: $hwm_reset_ok; load average before: $load1"
  echo
  printf '%-13s %10s %6s %8s %6s %8s %6s %10s %10s %8s\n' \
    target req/s x_dir p50_ms x_dir p99_ms x_dir gw_us/req be_us/req gw_MiB
  for t in "${TARGETS[@]}"; do
    printf '%-13s %10.0f %6s %8.3f %6s %8.3f %6s %10.2f %10.2f %8.1f\n' "$t" \
      "${med[$t.rps]}" "$(ratio "${med[$t.rps]}" "${med[direct.rps]}")" \
      "${med[$t.p50]}" "$(ratio "${med[$t.p50]}" "${med[direct.p50]}")" \
      "${med[$t.p99]}" "$(ratio "${med[$t.p99]}" "${med[direct.p99]}")" \
      "${med[$t.gwcpu]}" "${med[$t.becpu]}" "${med[$t.rss]}"
  done
  echo
  echo "x_dir: the median divided by direct's. gw_us/req: gateway CPU (user+system) per request;"
  echo "be_us/req: the greeter's. gw_MiB: the gateway's peak RSS during the run (VmHWM)."
  echo
  for t in "${TARGETS[@]}"; do
    printf 'target=%s rps=%.0f cpu_us_per_req=%.2f p50_ms=%.3f p99_ms=%.3f rss_mib=%.1f\n' "$t" \
      "${med[$t.rps]}" "${med[$t.gwcpu]}" "${med[$t.p50]}" "${med[$t.p99]}" "${med[$t.rss]}"
  done
}

echo
if [[ -n $RESULTS ]]; then
  mkdir -p "$RESULTS"
  file="$RESULTS/load-$(date -u +%Y%m%dT%H%M%SZ).txt"
  echo "(the report is saved in $file)" >&2
  report | tee "$file"
else
  report
fi
