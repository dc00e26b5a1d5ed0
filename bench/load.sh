#!/usr/bin/env bash
# Measures what Sluice costs as a proxy, on loopback, in one run, against the
# backend called directly and against two other proxies given the same single
# core: nginx and Go's bare httputil.ReverseProxy. Per target: requests/s and
# the proxy's CPU time per request under closed-loop load (wrk, 64
# connections), p50/p99 latency at a fixed moderate rate (bench/rate), and
# the proxy's peak RSS. bench/README.md explains how to read the results.
#
#   bench/load.sh                          # 3 rounds × 9 targets × (10 s wrk + 5 s fixed rate), then 10 × 9 × (3 s + 3 s) paired, ~17 min
#   BENCH_QUICK=1 bench/load.sh            # 2 s + 2 s per target and round: checks that it works, ~3 min
#   INSTALL=1 bench/load.sh                # first installs wrk and nginx with apt-get where missing
#   TARGETS="revproxy sluice" bench/load.sh
#
# Targets, run interleaved in this order in every round:
#   direct       the greeter, GET /hello/bench, no proxy
#   nginx        nginx (Debian's package), plain reverse proxy, upstream keep-alive
#   revproxy     bench/revproxy: httputil.ReverseProxy on a tuned http.Transport
#                (idle connections >= the load's concurrency): THE Go baseline
#   revproxy-default  the same on http.DefaultTransport (2 idle connections
#                per backend), a labelled extra row only, never the baseline
#   floor        bench/floor: the gateway's HTTP halves alone (package server,
#                upstream/h1) around a handler that only copies: the least
#                the gateway could cost; sluice's us/req less floor's is its own work
#   sluice       the gateway, default policies, HTTP pass-through route GET /hello/*
#   sluice-nethttp  the same, with net/http's server on the listener instead of
#                the gateway's lean one (server: net/http), to weigh the server half
#   sluice-prod  the gateway with every production policy that exists so far
#   sluice-rpc   the gateway's RPC route GET /greet/{name} → Greeter.Hello
#                (the process of "sluice")
#   sluice-base  with BASE=REV only: the gateway built from git revision REV,
#                on the same config as "sluice", to weigh a change in one run
#
# Settings (environment):
#   ROUNDS=3            rounds; each runs every target in turn
#   DURATION=10         seconds of wrk per target and round (BENCH_QUICK=1: 2)
#   RATE_DURATION=5     seconds of fixed-rate load per target and round (quick: 2)
#   WARMUP=2            seconds of untimed wrk per target before round 1 (quick: 1)
#   PAIRS=10            after the rounds, short runs per target with the
#                       targets back to back, for CPU per request and p99
#                       (quick: 2; 0: none): a few seconds apart, the targets
#                       share a slot of the machine's speed, which the rounds'
#                       long runs do not
#   PAIR_DURATION=3     seconds of each of those wrk runs (quick: 1)
#   PAIR_RATE_DURATION=3  seconds of a fixed-rate run after each paired wrk
#                       run, for p99 the same way (quick: 1; 0: none): the
#                       rounds' p99 is taken minutes apart from nginx's, and
#                       a slot's hiccups move it by a factor of two or three
#   CONNECTIONS=64      wrk connections
#   THREADS=1           wrk threads
#   RATE=2000           requests/s of the fixed-rate run
#   RATE_CONNECTIONS=8  connections of the fixed-rate run
#   PROXY_PROCS=1       GOMAXPROCS of the Go proxies, worker_processes of nginx
#   LOG_LEVEL=info      gateway log level (the access log is off unless ACCESS_LOG=1)
#   ACCESS_LOG=0        1: the gateway writes its access log (one line per request)
#   TARGETS="..."       the targets to run, a subset of the list above
#   BASE=REV            also build the gateway at git revision REV (git
#                       archive, go build) and run it as target sluice-base
#   PIN=1               pin with taskset when it exists: proxies on CPU 0, wrk,
#                       the rate generator and the greeters on CPU 1; 0: don't
#   INSTALL=1           install wrk and nginx with apt-get when missing; without
#                       it, a missing nginx skips that target
#   KEEP=1              keep the work directory (binaries, configs, logs, outputs)
#   RESULTS=DIR         where the report is also saved (default bench/results,
#                       which git ignores); RESULTS= (empty) saves nothing
#
# Everything listens on 127.0.0.1 only. Every process the script starts is
# killed when it exits, however it exits; every wait is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10}
RATE_DURATION=${RATE_DURATION:-5}
WARMUP=${WARMUP:-2}
PAIRS=${PAIRS:-10}
PAIR_DURATION=${PAIR_DURATION:-3}
PAIR_RATE_DURATION=${PAIR_RATE_DURATION:-3}
if [[ ${BENCH_QUICK:-0} == 1 ]]; then
  DURATION=2
  RATE_DURATION=2
  WARMUP=1
  PAIRS=2
  PAIR_DURATION=1
  PAIR_RATE_DURATION=1
fi
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-1}
RATE=${RATE:-2000}
RATE_CONNECTIONS=${RATE_CONNECTIONS:-8}
PROXY_PROCS=${PROXY_PROCS:-1}
LOG_LEVEL=${LOG_LEVEL:-info}
ACCESS_LOG=${ACCESS_LOG:-0}
PIN=${PIN:-1}
RESULTS=${RESULTS-bench/results}
ALL_TARGETS=(direct nginx revproxy revproxy-default floor sluice sluice-nethttp sluice-prod sluice-rpc)
BASE=${BASE:-}
[[ -z $BASE ]] || ALL_TARGETS+=(sluice-base)
read -r -a TARGETS <<<"${TARGETS:-${ALL_TARGETS[*]}}"

die() { echo "load.sh: $*" >&2; exit 1; }
for v in ROUNDS DURATION RATE_DURATION WARMUP CONNECTIONS THREADS RATE RATE_CONNECTIONS PROXY_PROCS PAIRS PAIR_DURATION PAIR_RATE_DURATION; do
  [[ ${!v} =~ ^[0-9]+$ && ${!v} -gt 0 ]] || [[ ($v == WARMUP || $v == PAIRS || $v == PAIR_RATE_DURATION) && ${!v} == 0 ]] || die "$v must be a positive whole number, got '${!v}'"
done
[[ ${#TARGETS[@]} -gt 0 ]] || die "TARGETS is empty"
for t in "${TARGETS[@]}"; do
  [[ " ${ALL_TARGETS[*]} " == *" $t "* ]] || die "unknown target '$t' in TARGETS: use some of ${ALL_TARGETS[*]}"
done
wants() { [[ " ${TARGETS[*]} " == *" $1 "* ]]; }
access_log=false
[[ $ACCESS_LOG == 1 ]] && access_log=true

# --- tools -----------------------------------------------------------------
# nginx is in /usr/sbin, which is not on every user's PATH.
find_nginx() { command -v nginx 2>/dev/null || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; } || true; }
missing=()
command -v wrk >/dev/null || missing+=(wrk)
wants nginx && [[ -z $(find_nginx) ]] && missing+=(nginx)
if [[ ${#missing[@]} -gt 0 && ${INSTALL:-0} == 1 ]]; then
  sudo=()
  [[ $(id -u) == 0 ]] || sudo=(sudo)
  echo "installing ${missing[*]}..." >&2
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get install -y "${missing[@]}" >&2 ||
    { "${sudo[@]}" apt-get update >&2 && "${sudo[@]}" apt-get install -y "${missing[@]}" >&2; } ||
    die "apt-get install ${missing[*]} failed"
fi
command -v wrk >/dev/null || die "wrk is not installed. On Debian or Ubuntu: apt-get install -y wrk (as root),
or run this script with INSTALL=1 to have it do that."
nginx_bin=$(find_nginx)
skipped=()
if wants nginx && [[ -z $nginx_bin ]]; then
  echo "nginx is not installed: skipping the target nginx. On Debian or Ubuntu: apt-get install -y nginx
(as root), or run this script with INSTALL=1 to have it do that." >&2
  skipped+=(nginx)
  read -r -a TARGETS <<<"$(for t in "${TARGETS[@]}"; do [[ $t == nginx ]] || printf '%s ' "$t"; done)"
  [[ ${#TARGETS[@]} -gt 0 ]] || die "no target left to run"
fi
command -v go >/dev/null || die "go is not on PATH"
[[ -r /proc/self/stat ]] || die "needs Linux /proc"

# --- processes and cleanup -------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench.XXXXXX")
mkdir -p "$work/conf" # the configurations, apart from the logs: see start_gateway
pids=() orphans=()
cleanup() {
  local status=$? pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  # Wait at most 5 s for them to go, then kill what is left.
  for _ in $(seq 1 50); do
    local alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [[ $alive == 0 ]] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for pid in "${orphans[@]}"; do
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) == nginx ]] && kill -KILL "$pid" 2>/dev/null || true
  done
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
pin_proxy=() pin_load=() pinned=no
if [[ $PIN == 1 ]] && command -v taskset >/dev/null && [[ $(nproc --all 2>/dev/null || echo 1) -ge 2 ]] &&
   taskset -c 0 true 2>/dev/null && taskset -c 1 true 2>/dev/null; then
  pin_proxy=(taskset -c 0) pin_load=(taskset -c 1) pinned=yes
fi

echo "building the gateway, the greeter, revproxy, floor and rate..." >&2
go build -o "$work/bin/" ./cmd/gateway ./examples/greeter ./bench/revproxy ./bench/floor ./bench/rate ./bench/jwtmint
if wants sluice-base; then
  [[ -n $BASE ]] || die "target sluice-base needs BASE=<git revision>"
  echo "building the gateway at $BASE..." >&2
  mkdir -p "$work/base-src" "$work/base"
  git archive "$BASE" | tar -x -C "$work/base-src"
  (cd "$work/base-src" && go build -o "$work/base/" ./cmd/gateway)
fi

# listen_addr LOG PID: waits (at most 10 s) for the JSON log line
# {..."msg":"listening",...,"address":"127.0.0.1:PORT"} and prints the
# address of the first one.
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

# The greeter, and a second one that sluice-prod's canary split sends 5% to.
"${pin_load[@]}" "$work/bin/greeter" -listen 127.0.0.1:0 2>"$work/greeter.log" &
greeter_pid=$!
pids+=("$greeter_pid")
backend=$(listen_addr "$work/greeter.log" "$greeter_pid")
backend_pids=("$greeter_pid")
if wants sluice-prod; then
  "${pin_load[@]}" "$work/bin/greeter" -listen 127.0.0.1:0 2>"$work/greeter-canary.log" &
  canary_pid=$!
  pids+=("$canary_pid")
  canary=$(listen_addr "$work/greeter-canary.log" "$canary_pid")
  backend_pids+=("$canary_pid")
fi

declare -A url cpu_pids rss_pid
# auth[TARGET]: an Authorization value its wrk, rate and probe requests send.
declare -A auth
url[direct]="http://$backend/hello/bench"

# --- nginx -----------------------------------------------------------------
nginx_version=
if wants nginx; then
  nginx_version=$("$nginx_bin" -v 2>&1 | sed 's/^nginx version: //')
  ngx=$work/nginx
  mkdir -p "$ngx/tmp"
  # As root, nginx's worker switches to the user nginx.conf names; nobody
  # must then be able to reach the temporary directories.
  user_line=
  if [[ $(id -u) == 0 ]]; then
    user_line="user nobody $(id -gn nobody 2>/dev/null || echo nogroup);"
    chmod 0711 "$work"
    chmod 0755 "$ngx" "$ngx/tmp"
  fi
  # Temporary paths of the modules this nginx has, so that none of the
  # compiled-in defaults (outside the prefix) is touched.
  temp_paths="client_body_temp_path $ngx/tmp/body; proxy_temp_path $ngx/tmp/proxy;"
  ngx_build=$("$nginx_bin" -V 2>&1)
  for m in fastcgi uwsgi scgi; do
    [[ $ngx_build == *"--http-$m-temp-path"* && $ngx_build != *"--without-http_${m}_module"* ]] &&
      temp_paths+=" ${m}_temp_path $ngx/tmp/$m;"
  done
  for attempt in 1 2 3 4 5; do
    nginx_addr=127.0.0.1:$(free_port)
    cat >"$ngx/nginx.conf" <<NGINX
# Generated by bench/load.sh: nginx as a plain reverse proxy with upstream
# keep-alive, one worker.
$user_line
worker_processes $PROXY_PROCS;
daemon off;
master_process on;
pid $ngx/nginx.pid;
error_log $ngx/error.log warn;
events {
    worker_connections 1024;
}
http {
    access_log off;
    $temp_paths
    upstream greeter {
        server $backend;
        keepalive 64;
    }
    server {
        listen $nginx_addr;
        location / {
            proxy_pass http://greeter;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
NGINX
    "$nginx_bin" -t -q -p "$ngx" -c "$ngx/nginx.conf" >"$ngx/test.log" 2>&1 ||
      die "nginx rejects the generated configuration: $(cat "$ngx/test.log")"
    "${pin_proxy[@]}" "$nginx_bin" -p "$ngx" -c "$ngx/nginx.conf" >"$ngx/stdout.log" 2>&1 &
    nginx_pid=$!
    pids+=("$nginx_pid")
    for _ in $(seq 1 100); do
      up "$nginx_addr" && break
      kill -0 "$nginx_pid" 2>/dev/null || break
      sleep 0.1
    done
    up "$nginx_addr" && kill -0 "$nginx_pid" 2>/dev/null && break
    kill "$nginx_pid" 2>/dev/null || true
    wait "$nginx_pid" 2>/dev/null || true
    grep -q "Address already in use" "$ngx/error.log" "$ngx/stdout.log" 2>/dev/null && [[ $attempt -lt 5 ]] && continue
    die "nginx did not start on $nginx_addr: $(tail -n 5 "$ngx/error.log" "$ngx/stdout.log" 2>/dev/null)"
  done
  # Its workers: the processes whose parent is the master.
  ngx_workers=()
  for _ in $(seq 1 50); do
    for s in /proc/[0-9]*/stat; do
      { st=$(<"$s"); } 2>/dev/null || continue
      read -r -a f <<<"${st##*) }"
      [[ ${f[1]} == "$nginx_pid" ]] && ngx_workers+=("$(basename "$(dirname "$s")")")
    done
    [[ ${#ngx_workers[@]} -ge $PROXY_PROCS ]] && break
    ngx_workers=()
    sleep 0.1
  done
  [[ ${#ngx_workers[@]} -gt 0 ]] || die "found no nginx worker process under $nginx_pid"
  # A worker outlives its master if the master is killed: cleanup kills any
  # left once the master has gone.
  orphans+=("${ngx_workers[@]}")
  url[nginx]="http://$nginx_addr/hello/bench"
  cpu_pids[nginx]="$nginx_pid ${ngx_workers[*]}"
  rss_pid[nginx]=${ngx_workers[0]}
fi

# --- revproxy --------------------------------------------------------------
# revproxy is the tuned baseline: it keeps at least as many idle connections
# to the greeter as either load has concurrent connections, so it never dials
# under load. revproxy-default is http.DefaultTransport (2 idle per host).
rp_idle=$(( CONNECTIONS > RATE_CONNECTIONS ? CONNECTIONS : RATE_CONNECTIONS ))
rp_idle=$(( rp_idle * 2 ))
for rp in revproxy revproxy-default; do
  wants "$rp" || continue
  rp_transport=tuned
  [[ $rp == revproxy-default ]] && rp_transport=default
  GOMAXPROCS=$PROXY_PROCS "${pin_proxy[@]}" "$work/bin/revproxy" -listen 127.0.0.1:0 -target "http://$backend" \
    -transport "$rp_transport" -idle "$rp_idle" 2>"$work/$rp.log" &
  rp_pid=$!
  pids+=("$rp_pid")
  url[$rp]="http://$(listen_addr "$work/$rp.log" "$rp_pid")/hello/bench"
  cpu_pids[$rp]=$rp_pid
  rss_pid[$rp]=$rp_pid
done

# --- floor -----------------------------------------------------------------
# floor is the gateway's two HTTP halves with nothing between them.
if wants floor; then
  GOMAXPROCS=$PROXY_PROCS "${pin_proxy[@]}" "$work/bin/floor" -listen 127.0.0.1:0 -target "$backend" \
    2>"$work/floor.log" &
  floor_pid=$!
  pids+=("$floor_pid")
  url[floor]="http://$(listen_addr "$work/floor.log" "$floor_pid")/hello/bench"
  cpu_pids[floor]=$floor_pid
  rss_pid[floor]=$floor_pid
fi

# --- the gateways ----------------------------------------------------------
# start_gateway NAME [BINARY]: starts the gateway (BINARY, by default the one
# built from this tree) on $work/conf/NAME.yaml and sets gateway_addr to its
# main listener's address (logged at level info; the access log stays off).
# The configuration is in a directory of its own: the gateway watches its
# file's directory, and the logs written beside it would each wake that
# watch, a cost the gateway's CPU a request would carry (its access log's
# writes, with ACCESS_LOG=1).
start_gateway() {
  local name=$1 bin=${2:-$work/bin/gateway} pid
  GOMAXPROCS=$PROXY_PROCS "${pin_proxy[@]}" "$bin" -config "$work/conf/$name.yaml" \
    -log-level "$LOG_LEVEL" -access-log="$access_log" >"$work/$name.log" 2>&1 &
  pid=$!
  pids+=("$pid")
  gateway_addr=$(listen_addr "$work/$name.log" "$pid") ||
    die "the gateway $name did not start (with LOG_LEVEL above info it does not say where it listens)"
  gateway_pid=$pid
}

if wants sluice || wants sluice-rpc || wants sluice-nethttp || wants sluice-base; then
  cat >"$work/conf/sluice.yaml" <<YAML
# Generated by bench/load.sh: targets "sluice" and "sluice-rpc". The default
# policies: budget originated at the edge (defaults.budget) and propagated,
# retries (max_retries 2, retry budget), circuit breaker and node ejection at
# their defaults, least_loaded selection, request metrics.
listeners:
  - address: 127.0.0.1:0
admin:
  address: 127.0.0.1:0
registry:
  kind: static
  static:
    - {service: greeter, address: $backend, version: 1.0.0}
routes:
  # Plain HTTP pass-through, the same path as the greeter's.
  - name: hello
    method: GET
    path: /hello/*
    service: greeter
  # RPC: /greet/bench becomes POST /rpc/Greeter.Hello {"name":"bench"}.
  - name: greet
    method: GET
    path: /greet/{name}
    service: greeter
    endpoint: Greeter.Hello
YAML
  start_gateway sluice
  url[sluice]="http://$gateway_addr/hello/bench"
  url[sluice-rpc]="http://$gateway_addr/greet/bench"
  cpu_pids[sluice]=$gateway_pid cpu_pids[sluice-rpc]=$gateway_pid
  rss_pid[sluice]=$gateway_pid rss_pid[sluice-rpc]=$gateway_pid
fi

if wants sluice-nethttp; then
  # sluice's config, with net/http's server on the route listener.
  sed 's|^  - address: 127.0.0.1:0$|&\n    server: net/http|' "$work/conf/sluice.yaml" >"$work/conf/sluice-nethttp.yaml"
  start_gateway sluice-nethttp
  url[sluice-nethttp]="http://$gateway_addr/hello/bench"
  cpu_pids[sluice-nethttp]=$gateway_pid
  rss_pid[sluice-nethttp]=$gateway_pid
fi

if wants sluice-base; then
  # sluice's config, served by the gateway built at $BASE.
  cp "$work/conf/sluice.yaml" "$work/conf/sluice-base.yaml"
  start_gateway sluice-base "$work/base/gateway"
  url[sluice-base]="http://$gateway_addr/hello/bench"
  cpu_pids[sluice-base]=$gateway_pid
  rss_pid[sluice-base]=$gateway_pid
fi

if wants sluice-prod; then
  # A fixed test secret, and a token for it valid for an hour.
  export SLUICE_BENCH_SECRET=sluice-bench-secret-0123456789abcdef
  auth[sluice-prod]="Bearer $("$work/bin/jwtmint" -secret-env SLUICE_BENCH_SECRET -sub bench -iss sluice-bench -aud api -kid bench)"
  cat >"$work/conf/sluice-prod.yaml" <<YAML
# Generated by bench/load.sh: target "sluice-prod", every production policy
# Sluice has on the pass-through route: JWT authentication (HS256, the
# subject forwarded) and a per-subject rate limit set too high to be hit.
listeners:
  - address: 127.0.0.1:0
admin:
  address: 127.0.0.1:0
registry:
  kind: static
  static:
    # Two nodes in the preferred datacenter, the second a canary release
    # (another greeter process), and one elsewhere (the first greeter under
    # another identity) that the datacenter preference leaves out.
    - {service: greeter, id: greeter-a, address: $backend, version: 1.0.0, datacenter: dc-a}
    - {service: greeter, id: greeter-canary, address: ${canary:-}, version: 1.1.0, datacenter: dc-a}
    - {service: greeter, id: greeter-b, address: $backend, version: 1.0.0, datacenter: dc-b}
upstream:
  margin: 1ms
  max_retries: 2               # retries on; the greeter never fails, so none happen
  per_try_timeout: 500ms
  retry_budget: {ratio: 0.2, floor: 10}
  backoff: {base: 25ms, cap: 250ms}
  breaker: {window: 10s, min_calls: 20, failure_ratio: 0.8, open_for: 5s}
  ejection: {consecutive_faults: 5, base_time: 2s, max_time: 30s, max_ejected_percent: 50}
services:
  greeter:
    strategy: least_loaded
    prefer_datacenter: dc-a
    canary: [{version: 1.1.0, weight: 0.05}]
defaults:
  budget: {timeout: 5s, max: 10s, min: 5ms}
auth:
  jwt:
    bench:
      issuer: sluice-bench
      audiences: [api]
      algorithms: [HS256]
      keys: [{id: bench, hmac_secret_env: SLUICE_BENCH_SECRET}]
      forward_claims: {sub: X-Sluice-Subject}
routes:
  - name: hello
    method: GET
    path: /hello/*
    service: greeter
    idempotent: true
    budget: {timeout: 2s, max: 5s, min: 10ms}
    auth: bench
    rate_limit: {rps: 1000000, key: subject}
YAML
  start_gateway sluice-prod
  url[sluice-prod]="http://$gateway_addr/hello/bench"
  cpu_pids[sluice-prod]=$gateway_pid
  rss_pid[sluice-prod]=$gateway_pid
fi

# probe URL [AUTHORIZATION]: prints the answer (status line, header, body) to one GET, sent
# with bash's /dev/tcp so that no HTTP client is needed besides wrk.
probe() {
  local hostport=${1#http://} path
  path=/${hostport#*/}
  hostport=${hostport%%/*}
  local extra=
  [[ -z ${2:-} ]] || extra="Authorization: $2"$'\r\n'
  exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}" || return 1
  printf 'GET %s HTTP/1.1\r\nHost: %s\r\n%sConnection: close\r\n\r\n' "$path" "$hostport" "$extra" >&3
  timeout 5 cat <&3
  exec 3<&-
}
# Every target must answer 200 with the greeting before any load is sent.
probe_urls=()
for t in "${TARGETS[@]}"; do probe_urls+=("$t ${url[$t]}"); done
probe_auth() { local t=${1%% *}; echo "${auth[$t]:-}"; }
[[ -n ${canary:-} ]] && probe_urls+=("greeter-canary http://$canary/hello/bench")
for p in "${probe_urls[@]}"; do
  answer=$(probe "${p#* }" "$(probe_auth "$p")" || true)
  [[ $answer == "HTTP/1.1 200"* && $answer == *'"Hello, bench!"'* ]] ||
    die "${p%% *} (${p#* }) does not answer 200 with the greeting; it answered:
$answer"
done

# --- measurement -----------------------------------------------------------
ticks=$(getconf CLK_TCK)

# cpu_ticks PID...: utime + stime of processes, in clock ticks, summed.
# Fields after the command name, which may hold spaces, start at field 3.
cpu_ticks() {
  local stat f sum=0 pid
  for pid in "$@"; do
    stat=$(<"/proc/$pid/stat")
    read -r -a f <<<"${stat##*) }"
    sum=$((sum + f[11] + f[12]))
  done
  echo "$sum"
}
# sys_ticks PID...: stime of processes, in clock ticks, summed: cpu_ticks
# less it is their time in user space.
sys_ticks() {
  local stat f sum=0 pid
  for pid in "$@"; do
    stat=$(<"/proc/$pid/stat")
    read -r -a f <<<"${stat##*) }"
    sum=$((sum + f[12]))
  done
  echo "$sum"
}
# cpu_n_ticks N: "BUSY TOTAL" of CPU N from /proc/stat, in clock ticks. Busy
# is user + nice + system + irq + softirq (which the kernel usually also
# charges to the process it interrupted: loopback traffic is mostly softirq)
# + steal (time a hypervisor gave to other machines); total adds idle and
# iowait. Guest time is already in user.
cpu_n_ticks() { awk -v c="cpu$1" '$1 == c {print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9; exit}' /proc/stat; }
# children_ms FILE: the CPU time (user + system) of the shell's finished
# children, in milliseconds, from what the builtin times wrote to FILE. Run
# times itself in the shell, not in a $(subshell), which has children of its
# own.
children_ms() {
  awk 'NR == 2 {gsub(/s/, ""); split($1, u, "m"); split($2, y, "m"); printf "%.0f", (u[1] * 60 + u[2] + y[1] * 60 + y[2]) * 1000}' "$1"
}
# others_pct BEFORE AFTER OURS_MS: the share (%) of a CPU's time, between two
# cpu_n_ticks samples, that went to anything but OURS_MS of our own work.
others_pct() {
  awk -v a="$1" -v b="$2" -v m="$3" -v t="$ticks" 'BEGIN {
    split(a, x, " "); split(b, y, " "); tot = (y[2] - x[2]) / t * 1000
    o = ((y[1] - x[1]) / t * 1000 - m) / (tot > 0 ? tot : 1) * 100
    printf "%.1f", (o < 0 ? 0 : o) }'
}
# hwm_kib PID: the peak resident set size (VmHWM) in KiB.
hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }
# reset_hwm PID: starts a new peak (Linux 4.0+; harmless where refused).
reset_hwm() { echo 5 >"/proc/$1/clear_refs" 2>/dev/null || true; }
# us_per_req TICKS REQUESTS: CPU microseconds per request.
us_per_req() { awk -v d="$1" -v t="$ticks" -v n="$2" 'BEGIN {printf "%.2f", d / t * 1e6 / n}'; }
# to_ms VALUE: wrk's latency (1.23ms, 456.00us, 1.02s, 1.5m) in milliseconds.
to_ms() {
  awk -v v="$1" 'BEGIN {
    n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
    f = (u == "us") ? 0.001 : (u == "ms") ? 1 : (u == "s") ? 1000 : (u == "m") ? 60000 : -1
    if (f < 0) { print "nan"; exit }
    printf "%.3f", n * f }'
}
# alive TARGET: dies when a process behind the target has gone.
alive() {
  local pid
  for pid in ${cpu_pids[$1]:-} "${backend_pids[@]}"; do
    kill -0 "$pid" 2>/dev/null || die "process $pid behind $1 died; KEEP=1 keeps the logs"
  done
}

mkdir -p "$work/runs"
hwm_reset_ok=no
for t in "${TARGETS[@]}"; do
  [[ -n ${rss_pid[$t]:-} ]] || continue
  reset_hwm "${rss_pid[$t]}"
  [[ -w /proc/${rss_pid[$t]}/clear_refs ]] && hwm_reset_ok=yes
  break
done

# auth_flag FLAG TARGET: sets the array hdr to FLAG "Authorization: ..." when
# the target needs a token, else to nothing.
auth_flag() {
  hdr=()
  [[ -z ${auth[$2]:-} ]] || hdr=("$1" "Authorization: ${auth[$2]}")
}

# warmup TARGET: untimed closed-loop load.
warmup() {
  local hdr
  auth_flag -H "$1"
  "${pin_load[@]}" timeout $((WARMUP + 30)) wrk -t "$THREADS" -c "$CONNECTIONS" -d "${WARMUP}s" --timeout 5s \
    "${hdr[@]}" "${url[$1]}" >"$work/runs/warmup-$1.txt" 2>&1 || die "wrk failed on $1: $(cat "$work/runs/warmup-$1.txt")"
  alive "$1"
}

# fixed_rate TARGET SECONDS OUT: one open-loop run of bench/rate, RATE
# requests/s over RATE_CONNECTIONS connections, its output in OUT; sets
# rline to its result line, which kv reads.
rline=
kv() { sed -n "s/.*\\b$1=\\([^ ]*\\).*/\\1/p" <<<"$rline"; }
fixed_rate() {
  local target=$1 secs=$2 rout=$3 hdr rok
  auth_flag -header "$target"
  "${pin_load[@]}" timeout $((secs + 30)) "$work/bin/rate" "${hdr[@]}" -url "${url[$target]}" -rate "$RATE" \
    -duration "${secs}s" -connections "$RATE_CONNECTIONS" >"$rout" 2>&1 ||
    die "the rate generator failed on $target: $(cat "$rout")"
  alive "$target"
  rline=$(grep '^sent=' "$rout" | tail -n 1)
  rok=$(kv ok)
  [[ $rok =~ ^[0-9]+$ && $rok -gt 0 ]] || die "no fixed-rate answers counted in $rout: $(cat "$rout")"
  [[ $(kv errors) == 0 && $(kv non2xx) == 0 && $(kv dropped) == 0 ]] ||
    echo "WARNING: $target: fixed-rate run not clean: $rline" >&2
  awk -v l="$(kv late_p99_ms)" 'BEGIN {exit !(l > 1)}' &&
    echo "WARNING: $target: the rate generator dispatched late (p99 $(kv late_p99_ms) ms): CPU 1 is busy" >&2
  return 0
}

# run TARGET LABEL: one wrk run (throughput, CPU/request, peak RSS), then one
# fixed-rate run (latency, CPU/request at that rate); records the results.
run() {
  local target=$1 label=$2 out rout p0 p1 b0 b1 reqs rp=${rss_pid[$1]:-} cp=${cpu_pids[$1]:-}
  out="$work/runs/$label-$target.wrk.txt"
  rout="$work/runs/$label-$target.rate.txt"
  [[ -n $rp ]] && reset_hwm "$rp"
  p0=0 p1=0
  local s0=0 s1=0
  [[ -n $cp ]] && p0=$(cpu_ticks $cp) && s0=$(sys_ticks $cp)
  b0=$(cpu_ticks "${backend_pids[@]}")
  local c0 c1 l0 l1 k0 k1 hdr
  auth_flag -H "$target"
  c0=$(cpu_n_ticks 0) l0=$(cpu_n_ticks 1)
  times >"$work/times"
  k0=$(children_ms "$work/times")
  "${pin_load[@]}" timeout $((DURATION + 30)) wrk -t "$THREADS" -c "$CONNECTIONS" -d "${DURATION}s" --timeout 5s --latency \
    "${hdr[@]}" "${url[$target]}" >"$out" 2>&1 || die "wrk failed on $target: $(cat "$out")"
  times >"$work/times"
  k1=$(children_ms "$work/times")
  [[ -n $cp ]] && p1=$(cpu_ticks $cp) && s1=$(sys_ticks $cp)
  b1=$(cpu_ticks "${backend_pids[@]}")
  c1=$(cpu_n_ticks 0) l1=$(cpu_n_ticks 1)
  alive "$target"
  # The share of each CPU that other processes used meanwhile, or a
  # hypervisor took: CPU 0 less the proxy, CPU 1 less wrk and the greeters.
  local other=na other1=na
  if [[ $pinned == yes ]]; then
    other=$(others_pct "$c0" "$c1" "$(awk -v d=$((p1 - p0)) -v t="$ticks" 'BEGIN {print d / t * 1000}')")
    other1=$(others_pct "$l0" "$l1" "$(awk -v d=$((b1 - b0)) -v t="$ticks" -v k=$((k1 - k0)) 'BEGIN {print d / t * 1000 + k}')")
    awk -v o="$other" 'BEGIN {exit !(o > 5)}' &&
      echo "WARNING: $target: other processes (or the hypervisor) took ${other}% of CPU 0 during the wrk run" >&2
    awk -v o="$other1" 'BEGIN {exit !(o > 5)}' &&
      echo "WARNING: $target: other processes (or the hypervisor) took ${other1}% of CPU 1 during the wrk run" >&2
  fi
  local rss=na
  [[ -n $rp ]] && rss=$(awk -v k="$(hwm_kib "$rp")" 'BEGIN {printf "%.1f", k / 1024}')
  reqs=$(awk '/requests in/ {print $1; exit}' "$out")
  [[ $reqs =~ ^[0-9]+$ && $reqs -gt 0 ]] || die "no requests counted in $out: $(cat "$out")"
  local bad errs
  bad=$(awk -F': *' '/Non-2xx or 3xx responses/ {print $2}' "$out")
  errs=$(awk '/Socket errors/ {sub(/.*Socket errors: */, ""); print}' "$out")
  [[ -z $bad ]] || echo "WARNING: $target: $bad non-2xx answers to wrk (KEEP=1 keeps its output)" >&2
  [[ -z $errs ]] || echo "WARNING: $target: wrk socket errors: $errs" >&2

  # Fixed rate: open loop, RATE requests/s over RATE_CONNECTIONS connections.
  local r0=0 r1=0
  [[ -n $cp ]] && r0=$(cpu_ticks $cp)
  fixed_rate "$target" "$RATE_DURATION" "$rout"
  [[ -n $cp ]] && r1=$(cpu_ticks $cp)
  local rsent
  rsent=$(kv sent)

  {
    echo "rps=$(awk '/^Requests\/sec:/ {print $2}' "$out")"
    if [[ -n $cp ]]; then
      echo "cpu=$(us_per_req $((p1 - p0)) "$reqs")"
      echo "cpu_user=$(us_per_req $((p1 - p0 - (s1 - s0))) "$reqs")"
      echo "cpu_sys=$(us_per_req $((s1 - s0)) "$reqs")"
      echo "busy=$(awk -v d=$((p1 - p0)) -v t="$ticks" -v s="$DURATION" 'BEGIN {printf "%.0f", d / t / s * 100}')"
      echo "cpu_rate=$(us_per_req $((r1 - r0)) "$rsent")"
    else
      echo "cpu=na"
      echo "cpu_user=na"
      echo "cpu_sys=na"
      echo "busy=na"
      echo "cpu_rate=na"
    fi
    echo "becpu=$(us_per_req $((b1 - b0)) "$reqs")"
    echo "rss=$rss"
    echo "p50=$(kv p50_ms)"
    echo "p99=$(kv p99_ms)"
    echo "rate_rps=$(kv rps)"
    echo "wrk_p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$out")")"
    echo "wrk_p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$out")")"
    echo "cpu0_other=$other"
    echo "cpu1_other=$other1"
    echo "reqs=$reqs"
    echo "non2xx=$(awk -v b="${bad:-0}" -v n="$reqs" 'BEGIN {printf "%.2f", 100 * b / n}')"
  } >"$work/runs/$label-$target.kv"
}

where="unpinned"
[[ $pinned == yes ]] && where="proxies on CPU 0; wrk, the rate generator and the greeters on CPU 1"
echo "pinning: $where; one worker per proxy (GOMAXPROCS / worker_processes $PROXY_PROCS)" >&2
read -r load1 _ </proc/loadavg
if awk -v l="$load1" 'BEGIN {exit !(l > 0.5)}'; then
  echo "WARNING: load average $load1 before the run: other processes use the CPUs, so the numbers will be noisy" >&2
fi
echo "runs: $ROUNDS rounds × ${#TARGETS[@]} targets × (${DURATION}s wrk -t$THREADS -c$CONNECTIONS + ${RATE_DURATION}s at $RATE req/s over $RATE_CONNECTIONS connections), warm-up ${WARMUP}s per target" >&2
if [[ $WARMUP -gt 0 ]]; then
  for t in "${TARGETS[@]}"; do warmup "$t"; done
fi
for r in $(seq 1 "$ROUNDS"); do
  for t in "${TARGETS[@]}"; do
    run "$t" "r$r"
    printf '  round %d %-12s %s\n' "$r" "$t" "$(grep -E '^(rps|cpu|busy|cpu_rate|p50|p99|rss|cpu0_other|cpu1_other)=' "$work/runs/r$r-$t.kv" | paste -sd' ')" >&2
  done
done

# pair TARGET LABEL: one short wrk run, for the proxy's CPU per request,
# then, unless PAIR_RATE_DURATION is 0, one short fixed-rate run, for p99.
pair() {
  local target=$1 out="$work/pairs/$2-$1.wrk.txt" cp=${cpu_pids[$1]:-} p0 p1 reqs hdr
  [[ -n $cp ]] || return 0
  auth_flag -H "$target"
  p0=$(cpu_ticks $cp)
  "${pin_load[@]}" timeout $((PAIR_DURATION + 30)) wrk -t "$THREADS" -c "$CONNECTIONS" -d "${PAIR_DURATION}s" --timeout 5s \
    "${hdr[@]}" "${url[$target]}" >"$out" 2>&1 || die "wrk failed on $target: $(cat "$out")"
  p1=$(cpu_ticks $cp)
  alive "$target"
  reqs=$(awk '/requests in/ {print $1; exit}' "$out")
  [[ $reqs =~ ^[0-9]+$ && $reqs -gt 0 ]] || die "no requests counted in $out: $(cat "$out")"
  echo "cpu=$(us_per_req $((p1 - p0)) "$reqs")" >"$work/pairs/$2-$target.kv"
  if [[ $PAIR_RATE_DURATION -gt 0 ]]; then
    fixed_rate "$target" "$PAIR_RATE_DURATION" "$work/pairs/$2-$target.rate.txt"
    echo "p99=$(kv p99_ms)" >>"$work/pairs/$2-$target.kv"
  fi
}
if [[ $PAIRS -gt 0 ]]; then
  mkdir -p "$work/pairs"
  what="${PAIR_DURATION}s wrk"
  [[ $PAIR_RATE_DURATION == 0 ]] || what+=" + ${PAIR_RATE_DURATION}s at $RATE req/s"
  echo "pairs: $PAIRS × ${#TARGETS[@]} targets × ($what), back to back" >&2
  for r in $(seq 1 "$PAIRS"); do
    for t in "${TARGETS[@]}"; do pair "$t" "p$r"; done
  done
fi

# --- report ----------------------------------------------------------------
# median TARGET KEY: the median over rounds of one value ("na" when none).
median() {
  cat "$work"/runs/r*-"$1".kv | awk -F= -v k="$2" '$1 == k && $2 != "na" && $2 != "nan" {print $2}' | sort -g |
    awk '{v[NR] = $1} END {if (NR == 0) print "na"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
declare -A med
for t in "${TARGETS[@]}"; do
  for k in rps cpu cpu_user cpu_sys busy cpu_rate becpu rss p50 p99 rate_rps wrk_p50 wrk_p99 cpu0_other cpu1_other non2xx; do med[$t.$k]=$(median "$t" "$k"); done
done
# roundratios TARGET KEY BASE: TARGET's value over BASE's in each round, one
# line per round in the order of the rounds, "-" where either is missing.
roundratios() {
  local r a b
  for r in $(seq 1 "$ROUNDS"); do
    a=$(awk -F= -v k="$2" '$1 == k {print $2}' "$work/runs/r$r-$1.kv")
    b=$(awk -F= -v k="$2" '$1 == k {print $2}' "$work/runs/r$r-$3.kv")
    awk -v a="$a" -v b="$b" 'BEGIN {if (a != "na" && a != "nan" && b != "na" && b != "nan" && b + 0 != 0) printf "%.6f\n", a / b; else print "-"}'
  done
}
# ratio TARGET KEY BASE: the median over rounds of TARGET's value over BASE's
# in the same round, "-" when either is missing. Within a round the two ran a
# minute apart at most, so a drift of the machine's speed between rounds
# cancels out.
ratio() {
  wants "$3" || { echo -; return; }
  roundratios "$@" | awk '$1 != "-"' | sort -g | awk '{v[NR] = $1} END {
    if (NR == 0) print "-"; else printf "%.2f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# byround TARGET KEY BASE: the ratios of roundratios on one line, to two places.
byround() {
  roundratios "$@" | awk '{if ($1 == "-") print "-"; else printf "%.2f\n", $1}' | paste -sd' '
}
# roundvalues TARGET KEY: its value in each round on one line, to one place.
roundvalues() {
  local r
  for r in $(seq 1 "$ROUNDS"); do
    awk -F= -v k="$2" '$1 == k {if ($2 == "na" || $2 == "nan") print "-"; else printf "%.1f\n", $2}' "$work/runs/r$r-$1.kv"
  done | paste -sd' '
}
# pairmedian TARGET KEY FORMAT: the median of its paired runs' KEY (cpu: CPU
# per request; p99: the fixed-rate run's p99, in ms).
pairmedian() {
  cat "$work"/pairs/p*-"$1".kv 2>/dev/null | awk -F= -v k="$2" '$1 == k && $2 != "na" {print $2}' | sort -g |
    awk -v f="$3" '{v[NR] = $1} END {if (NR == 0) print "-"; else printf f, (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
# pairratios TARGET KEY: "MEDIAN (MIN-MAX)" of its paired runs' KEY over
# nginx's in the same pair.
pairratios() {
  local r a b
  for r in $(seq 1 "$PAIRS"); do
    a=$(awk -F= -v k="$2" '$1 == k {print $2}' "$work/pairs/p$r-$1.kv" 2>/dev/null)
    b=$(awk -F= -v k="$2" '$1 == k {print $2}' "$work/pairs/p$r-nginx.kv" 2>/dev/null)
    [[ -n $a && -n $b && $a != na && $b != na ]] && awk -v a="$a" -v b="$b" 'BEGIN {if (b + 0 > 0) printf "%.6f\n", a / b}'
  done | sort -g | awk '{v[NR] = $1} END {
    if (NR == 0) { print "-"; exit }
    printf "%.2f (%.2f-%.2f)", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2, v[1], v[NR] }'
}
# num FORMAT VALUE: printf, or "-" for a missing value.
num() { if [[ $2 == na || -z $2 ]]; then echo -; else printf "$1" "$2"; fi; }

report() {
  echo "Sluice load test: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) CPUs ($(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || echo unknown)), $(go env GOVERSION)${nginx_version:+, nginx $nginx_version}"
  echo "medians of $ROUNDS rounds; throughput and CPU: wrk -t$THREADS -c$CONNECTIONS for ${DURATION}s; latency: $RATE req/s open loop over $RATE_CONNECTIONS connections for ${RATE_DURATION}s"
  echo "pinned: $pinned (proxies on CPU 0, load and greeters on CPU 1); one worker per proxy; gateway log level $LOG_LEVEL, access log $access_log; RSS peak reset per run: $hwm_reset_ok; load average before: $load1"
  echo
  printf '%-16s %8s %5s %5s %5s  %7s %5s %5s %7s  %7s %5s %5s  %7s %5s %5s  %6s %7s %5s\n' \
    target req/s x_rp x_ngx busy% us/req x_rp x_ngx @rate p50_ms x_rp x_ngx p99_ms x_rp x_ngx MiB be_us err%
  local t
  for t in "${ALL_TARGETS[@]}"; do
    if [[ " ${skipped[*]} " == *" $t "* ]]; then
      printf '%-16s skipped: not installed (INSTALL=1 installs it)\n' "$t"
      continue
    fi
    wants "$t" || continue
    printf '%-16s %8s %5s %5s %5s  %7s %5s %5s %7s  %7s %5s %5s  %7s %5s %5s  %6s %7s %5s\n' "$t" \
      "$(num %.0f "${med[$t.rps]}")" "$(ratio "$t" rps revproxy)" "$(ratio "$t" rps nginx)" "$(num %.0f "${med[$t.busy]}")" \
      "$(num %.2f "${med[$t.cpu]}")" "$(ratio "$t" cpu revproxy)" "$(ratio "$t" cpu nginx)" \
      "$(num %.2f "${med[$t.cpu_rate]}")" \
      "$(num %.3f "${med[$t.p50]}")" "$(ratio "$t" p50 revproxy)" "$(ratio "$t" p50 nginx)" \
      "$(num %.3f "${med[$t.p99]}")" "$(ratio "$t" p99 revproxy)" "$(ratio "$t" p99 nginx)" \
      "$(num %.1f "${med[$t.rss]}")" "$(num %.2f "${med[$t.becpu]}")" "$(num %.2f "${med[$t.non2xx]}")"
  done
  echo
  echo "req/s: wrk's, closed loop. busy%: the share of its core the proxy used meanwhile (below ~95: the"
  echo "proxy was not the bottleneck, CPU 1 was). us/req: the proxy's CPU (user+system, nginx master+worker)"
  echo "per request during the wrk run; @rate: the same during the fixed-rate run. p50_ms, p99_ms: latency at the"
  echo "fixed rate. MiB: the proxy's peak RSS (VmHWM; nginx: the worker). be_us: the greeters' CPU per"
  echo "request. err%: the share of wrk's answers that were not 2xx (the greeter never fails: any is the proxy's)."
  echo "x_rp, x_ngx: the value over revproxy's (the tuned ReverseProxy), over nginx's in the same round, median of the"
  echo "rounds (so not always the ratio of the medians shown). direct has no proxy: '-'."
  if wants nginx && [[ $ROUNDS -gt 1 ]]; then
    # The spread of a run: a median of ratios hides how far the rounds
    # were apart, and a difference smaller than that spread says nothing.
    echo
    echo "us/req and p99_ms over nginx's, round by round:"
    for t in "${ALL_TARGETS[@]}"; do
      [[ $t == nginx || $t == direct ]] && continue
      wants "$t" || continue
      printf '  %-16s us/req %s   p99_ms %s\n' "$t" "$(byround "$t" cpu nginx)" "$(byround "$t" p99 nginx)"
    done
    # The greeters do the same work whichever proxy is in front, so their
    # CPU a request is the run's control: a round where it is well above
    # nginx's in the same round ran in a slow slot (the machine, not the
    # proxy), and its ratios say less.
    echo
    echo "the greeters' CPU a request (be_us), round by round: a round well above nginx's in the same round was a slow slot:"
    for t in "${ALL_TARGETS[@]}"; do
      [[ $t == direct ]] && continue
      wants "$t" || continue
      printf '  %-16s be_us %s\n' "$t" "$(roundvalues "$t" becpu)"
    done
  fi
  # Where a proxy's CPU goes: the kernel's share (the system calls, the
  # loopback's TCP) is much the same for every proxy here, so a gap between
  # two is mostly in user space.
  echo
  echo "us/req split, user and system (the kernel's, for the proxy's system calls), medians of the rounds:"
  for t in "${ALL_TARGETS[@]}"; do
    [[ $t == direct ]] && continue
    wants "$t" || continue
    [[ -n ${cpu_pids[$t]:-} ]] || continue
    printf '  %-16s user %7s  system %7s\n' "$t" "$(num %.2f "${med[$t.cpu_user]}")" "$(num %.2f "${med[$t.cpu_sys]}")"
  done
  if wants nginx && [[ $PAIRS -gt 0 ]]; then
    # The same CPU per request and p99, from runs a few seconds apart: the
    # ratio to nginx of each pair, then the median and the range of those
    # ratios.
    echo
    local key fmt
    for key in cpu p99; do
      case $key in
      cpu) fmt=%.2f
        echo "paired runs ($PAIRS × ${PAIR_DURATION}s of wrk per target, the targets back to back): us/req, median; over nginx's in the same pair, median (range):" ;;
      p99) fmt=%.3f
        [[ $PAIR_RATE_DURATION -gt 0 ]] || continue
        echo "and each followed by ${PAIR_RATE_DURATION}s at $RATE req/s over $RATE_CONNECTIONS connections: p99_ms, median; over nginx's in the same pair, median (range):" ;;
      esac
      for t in "${ALL_TARGETS[@]}"; do
        [[ $t == direct ]] && continue
        wants "$t" || continue
        [[ -n ${cpu_pids[$t]:-} ]] || continue
        printf '  %-16s %7s  %s\n' "$t" "$(pairmedian "$t" $key $fmt)" "$(pairratios "$t" $key)"
      done
    done
  fi
  if [[ $pinned == yes ]]; then
    echo
    local n what
    for n in 0 1; do
      what="the proxy's core"
      [[ $n == 1 ]] && what="the load's core"
      cat "$work"/runs/r*.kv | awk -F= -v k="cpu${n}_other" '$1 == k && $2 != "na" {print $2}' | sort -g |
        awk -v c="$n" -v w="$what" '{v[++n] = $1}
        END {
          if (n == 0) exit
          m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
          printf "CPU %d (%s) taken by other processes or the hypervisor during the wrk runs: median %.1f%%, max %.1f%%%s\n",
            c, w, m, v[n], (v[n] > 5 ? " (above 5%: those runs were disturbed)" : "")
        }'
    done
  fi
  echo
  for t in "${ALL_TARGETS[@]}"; do
    wants "$t" || continue
    printf 'target=%s rps=%s cpu_us_per_req=%s p50_ms=%s p99_ms=%s rss_mib=%s\n' "$t" \
      "$(num %.0f "${med[$t.rps]}" | sed 's/^-$/na/')" "$(num %.2f "${med[$t.cpu]}" | sed 's/^-$/na/')" \
      "$(num %.3f "${med[$t.p50]}" | sed 's/^-$/na/')" "$(num %.3f "${med[$t.p99]}" | sed 's/^-$/na/')" \
      "$(num %.1f "${med[$t.rss]}" | sed 's/^-$/na/')"
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
