#!/usr/bin/env bash
# Counts the user-space instructions and level-1 data-cache misses a proxy
# spends per request, under valgrind's cachegrind, on loopback: a count that
# does not move with the machine's speed from one minute to the next as the
# CPU time of bench/load.sh does, so that a change of a few percent in the
# proxy's own work can be seen in one run. It does not count the kernel's
# work (the system calls, about half of a proxy's CPU: bench/README.md), nor
# what a cache miss costs in time.
#
#   bench/instr.sh                        # nginx, floor and sluice, ~4 min (sluice-base: ~1.5 min more)
#   TARGETS="floor sluice" bench/instr.sh
#   BASE=REV TARGETS="sluice sluice-base" bench/instr.sh   # a change, counted
#   TARGETS="sluice sluice-nopolicy" bench/instr.sh        # what the policies cost
#   INSTALL=1 bench/instr.sh              # first installs valgrind (and nginx) with apt-get
#
# Each target runs twice under cachegrind, sent N1 and then N2 requests
# (GET /hello/bench, bench/rate at RATE requests/s over 8 connections, to
# the greeter example); its count per request is the difference of the two
# runs' counts over N2-N1, which leaves out what starting and stopping cost.
# The targets are load.sh's: nginx (one process: master_process off), floor
# (the gateway's HTTP halves alone), sluice (the gateway, default policies)
# and sluice-base (the gateway built at BASE); and sluice-nopolicy, the
# gateway with the upstream client's policies off (retries, the retry
# budget, the breaker, ejection and the concurrency limits), which prices
# those defaults against sluice.
#
# Settings (environment): TARGETS, BASE, N1=3000, N2=9000, RATE=300,
# PIN=1 (proxies on CPU 0, the greeter and the load on CPU 1), INSTALL=0,
# FIELDS=0 (10: each request carries ten fields besides Host, as a browser's
# fetch does: User-Agent, Accept, Accept-Language, Accept-Encoding, Cookie,
# Referer, three Sec-Fetch-* and Cache-Control; 0: Host alone, as wrk's),
# ACCESS_LOG=0 (1: the gateway targets log their line per request, as they
# do by default, to a file; nginx's access log stays off).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=${TARGETS:-nginx floor sluice}
N1=${N1:-3000}
N2=${N2:-9000}
RATE=${RATE:-300}
PIN=${PIN:-1}
BASE=${BASE:-}
FIELDS=${FIELDS:-0}
ACCESS_LOG=${ACCESS_LOG:-0}
access_log=false
[[ $ACCESS_LOG == 1 ]] && access_log=true

die() { echo "instr.sh: $*" >&2; exit 1; }

fields=()
case $FIELDS in
0) ;;
10) fields=(-header "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"
  -header "Accept: application/json, text/plain, */*" -header "Accept-Language: en-US,en;q=0.9"
  -header "Accept-Encoding: gzip, deflate, br" -header "Cookie: session=3f2a9c1e7b; theme=dark"
  -header "Referer: https://app.example.com/orders" -header "Sec-Fetch-Dest: empty" -header "Sec-Fetch-Mode: cors"
  -header "Sec-Fetch-Site: same-origin" -header "Cache-Control: no-cache") ;;
*) die "FIELDS is 0 or 10, not $FIELDS" ;;
esac
wants() { [[ " $TARGETS " == *" $1 "* ]]; }
find_nginx() { command -v nginx 2>/dev/null || { [[ -x /usr/sbin/nginx ]] && echo /usr/sbin/nginx; } || true; }

if [[ ${INSTALL:-0} == 1 ]]; then
  missing=()
  command -v valgrind >/dev/null || missing+=(valgrind)
  wants nginx && [[ -z $(find_nginx) ]] && missing+=(nginx)
  if [[ ${#missing[@]} -gt 0 ]]; then
    sudo=()
    [[ $(id -u) == 0 ]] || sudo=(sudo)
    "${sudo[@]}" apt-get install -y "${missing[@]}" >&2
  fi
fi
command -v valgrind >/dev/null || die "needs valgrind (apt-get install valgrind, or INSTALL=1)"
nginx_bin=$(find_nginx)
if wants nginx && [[ -z $nginx_bin ]]; then
  echo "instr.sh: no nginx (apt-get install nginx, or INSTALL=1): target nginx skipped" >&2
  TARGETS=${TARGETS//nginx/}
fi
[[ $N2 -gt $N1 && $N1 -gt 0 ]] || die "needs 0 < N1 < N2"
wants sluice-base && [[ -z $BASE ]] && die "target sluice-base needs BASE=<git revision>"

work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-instr.XXXXXX")
pids=()
cleanup() {
  local status=$? pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  [[ ${KEEP:-0} == 1 ]] && echo "work directory kept: $work" >&2 || rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

pin_proxy=() pin_load=()
if [[ $PIN == 1 ]] && command -v taskset >/dev/null && taskset -c 1 true 2>/dev/null; then
  pin_proxy=(taskset -c 0) pin_load=(taskset -c 1)
fi

echo "building..." >&2
# The configurations get a directory of their own: the gateway watches its
# file's directory, and the log written beside it woke that watch with each
# write (some 1,200 instructions a request with ACCESS_LOG=1).
mkdir -p "$work/conf"
go build -o "$work/bin/" ./cmd/gateway ./examples/greeter ./bench/floor ./bench/rate
if wants sluice-base; then
  mkdir -p "$work/base-src" "$work/base"
  git archive "$BASE" | tar -x -C "$work/base-src"
  (cd "$work/base-src" && go build -o "$work/base/" ./cmd/gateway)
fi

up() { (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }
# probe HOSTPORT: whether GET /hello/bench there is answered 200 (one
# request, which every run of a target makes alike).
probe() {
  (
    exec 3<>"/dev/tcp/${1%:*}/${1##*:}" || exit 1
    printf 'GET /hello/bench HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n' >&3
    read -r -t 10 line <&3 && [[ $line == "HTTP/1.1 200"* ]]
  ) 2>/dev/null
}
free_port() {
  local port hex
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 12000))
    printf -v hex ':%04X ' "$port"
    grep -q "$hex" /proc/net/tcp /proc/net/tcp6 2>/dev/null || { echo "$port"; return 0; }
  done
  die "found no free port"
}

backend=127.0.0.1:$(free_port)
"${pin_load[@]}" "$work/bin/greeter" -listen "$backend" 2>"$work/greeter.log" &
pids+=($!)
for _ in $(seq 1 100); do up "$backend" && break; sleep 0.1; done
up "$backend" || die "the greeter did not start: $(tail -n 5 "$work/greeter.log")"

# count TARGET N: runs TARGET under cachegrind, sends it N requests, stops
# it, and prints its instruction and D1-miss counts.
count() {
  local target=$1 n=$2 addr pid out=$work/$1.$2
  addr=127.0.0.1:$(free_port)
  # Valgrind 3.19 (Debian 12) does not decode RDTSCP, which the Go runtime
  # uses, when the CPU has it, to time a contended lock: off, it uses RDTSC.
  local cg=(env GODEBUG=cpu.rdtscp=off valgrind --tool=cachegrind --cache-sim=yes --cachegrind-out-file=/dev/null)
  case $target in
  nginx)
    # One process, which runs as whoever starts it: no worker to switch user.
    mkdir -p "$work/nginx"
    cat >"$work/nginx/nginx.conf" <<NGINX
worker_processes 1;
daemon off;
master_process off;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/nginx/body; proxy_temp_path $work/nginx/proxy;
    upstream greeter { server $backend; keepalive 64; }
    server {
        listen $addr;
        location / { proxy_pass http://greeter; proxy_http_version 1.1; proxy_set_header Connection ""; }
    }
}
NGINX
    "${pin_proxy[@]}" "${cg[@]}" "$nginx_bin" -p "$work/nginx" -c "$work/nginx/nginx.conf" >"$out.log" 2>&1 &
    ;;
  floor)
    GOMAXPROCS=1 "${pin_proxy[@]}" "${cg[@]}" "$work/bin/floor" -listen "$addr" -target "$backend" >"$out.log" 2>&1 &
    ;;
  sluice | sluice-base | sluice-nopolicy)
    cat >"$work/conf/$target.yaml" <<YAML
listeners:
  - address: $addr
admin:
  address: 127.0.0.1:$(free_port)
registry:
  kind: static
  static:
    - {service: greeter, address: $backend, version: 1.0.0}
routes:
  - name: hello
    method: GET
    path: /hello/*
    service: greeter
YAML
    if [[ $target == sluice-nopolicy ]]; then
      cat >>"$work/conf/$target.yaml" <<YAML
upstream:
  max_retries: -1
  retry_budget: {ratio: -1}
  breaker: {disabled: true}
  ejection: {disabled: true}
  concurrency_limit: {disabled: true}
YAML
    fi
    local bin=$work/bin/gateway
    [[ $target == sluice-base ]] && bin=$work/base/gateway
    GOMAXPROCS=1 "${pin_proxy[@]}" "${cg[@]}" "$bin" -config "$work/conf/$target.yaml" -access-log="$access_log" >"$out.log" 2>&1 &
    ;;
  *) die "unknown target $target" ;;
  esac
  pid=$!
  pids+=("$pid")
  for _ in $(seq 1 300); do probe "$addr" && break; kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  probe "$addr" || die "$target did not start: $(tail -n 5 "$out.log")"
  "${pin_load[@]}" "$work/bin/rate" "${fields[@]}" -url "http://$addr/hello/bench" -rate "$RATE" \
    -duration "$(awk -v n="$n" -v r="$RATE" 'BEGIN { printf "%.3fs", n / r }')" -connections 8 >"$out.rate" ||
    die "$target: the load failed: $(tail -n 3 "$out.rate")"
  grep -q " ok=$n " "$out.rate" || die "$target: not every request was answered 2xx: $(head -n 1 "$out.rate")"
  kill -INT "$pid"
  for _ in $(seq 1 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  local ir d1
  ir=$(sed -n 's/.* I *refs: *\([0-9,]*\).*/\1/p' "$out.log" | tr -d , | head -n 1)
  d1=$(sed -n 's/.* D1 *misses: *\([0-9,]*\).*/\1/p' "$out.log" | tr -d , | head -n 1)
  [[ -n $ir && -n $d1 ]] || die "$target: no counts from cachegrind: $(tail -n 5 "$out.log")"
  echo "$ir $d1"
}

declare -A ir d1
for t in nginx floor sluice sluice-nopolicy sluice-base; do
  wants "$t" || continue
  echo "counting $t ($N1 and $N2 requests)..." >&2
  count "$t" "$N1" >"$work/counts"
  read -r i1 m1 <"$work/counts"
  count "$t" "$N2" >"$work/counts"
  read -r i2 m2 <"$work/counts"
  ir[$t]=$(( (i2 - i1) / (N2 - N1) ))
  d1[$t]=$(( (m2 - m1) / (N2 - N1) ))
done

echo
echo "Sluice instruction count: $(date -u +%Y-%m-%dT%H:%M:%SZ), $(go version | cut -d' ' -f3), valgrind $(valgrind --version | sed 's/valgrind-//')"
echo "user-space instructions and D1 misses a request (cachegrind), GET /hello/bench${fields:+ with $FIELDS fields besides Host} at $RATE/s, runs of $N1 and $N2 requests"
printf '%-15s %12s %8s %8s %12s\n' target instr/req x_ngx x_floor D1miss/req
for t in nginx floor sluice sluice-nopolicy sluice-base; do
  [[ -n ${ir[$t]:-} ]] || continue
  xn=- xf=-
  [[ -n ${ir[nginx]:-} ]] && xn=$(awk -v a="${ir[$t]}" -v b="${ir[nginx]}" 'BEGIN { printf "%.2f", a / b }')
  [[ -n ${ir[floor]:-} ]] && xf=$(awk -v a="${ir[$t]}" -v b="${ir[floor]}" 'BEGIN { printf "%.2f", a / b }')
  printf '%-15s %12d %8s %8s %12d\n' "$t" "${ir[$t]}" "$xn" "$xf" "${d1[$t]}"
done
