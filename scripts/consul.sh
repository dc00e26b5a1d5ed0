#!/usr/bin/env bash
# consul.sh builds and runs the pinned Consul agent used by Sluice's integration tests.
#
#   scripts/consul.sh build       build consul v1.14.11 from the Go module proxy (cached)
#   scripts/consul.sh path        print the cached binary's path; exit 1 when absent
#   scripts/consul.sh start DIR   start a dev agent on 127.0.0.1 with data and log in DIR,
#                                 wait for the HTTP API and a leader, print CONSUL_HTTP_ADDR=...
#   scripts/consul.sh stop DIR    stop the agent whose pid is in DIR/consul.pid
#
# Environment:
#   SLUICE_CACHE          cache root (default $HOME/.cache/sluice)
#   CONSUL_HTTP_PORT      HTTP port for start (default: a free port)
#   CONSUL_SERF_LAN_PORT  Serf LAN port for start (default: a free port)
#   CONSUL_SERVER_PORT    server RPC port for start (default: a free port)
#   CONSUL_SERF_WAN_PORT  Serf WAN port for start (default -1: disabled)
#   CONSUL_START_TIMEOUT  seconds start waits for a leader (default 30)
#
# Consul is MPL-2.0 licensed; 1.14.11 is the last release of that line under MPL.
set -euo pipefail

CONSUL_VERSION=1.14.11
TOOL=consul.sh
# shellcheck source=lib/cached.sh
source "$(dirname "$0")/lib/cached.sh"
cached_init "consul-$CONSUL_VERSION" consul

# The module zip leaves out the nested api, sdk and proto-public modules that
# the replace directives point at: use the versions go.mod requires, from the
# proxy.
drop_nested_replaces() {
	go mod edit \
		-dropreplace=github.com/hashicorp/consul/api \
		-dropreplace=github.com/hashicorp/consul/sdk \
		-dropreplace=github.com/hashicorp/consul/proto-public
}

cmd_build() {
	build_from_module github.com/hashicorp/consul "$CONSUL_VERSION" . drop_nested_replaces \
		"-X github.com/hashicorp/consul/version.GitCommit=modproxy -X github.com/hashicorp/consul/version.VersionPrerelease="
}

# free_port prints a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
	python3 - <<'EOF' 2>/dev/null && return 0
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
	local p
	for _ in $(seq 1 50); do
		p=$((20000 + RANDOM % 30000))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return 0
		fi
	done
	die "no free port found"
}

cmd_start() {
	local dir=${1:-}
	[[ -n "$dir" ]] || die "start needs a directory"
	local bin
	bin=$(cmd_path) || die "consul binary not built: run scripts/consul.sh build"
	mkdir -p "$dir/data"
	dir=$(cd "$dir" && pwd)
	if [[ -f "$dir/consul.pid" ]] && kill -0 "$(cat "$dir/consul.pid")" 2>/dev/null; then
		die "an agent already runs from $dir (pid $(cat "$dir/consul.pid"))"
	fi
	local http=${CONSUL_HTTP_PORT:-$(free_port)}
	local serf=${CONSUL_SERF_LAN_PORT:-$(free_port)}
	local server=${CONSUL_SERVER_PORT:-$(free_port)}
	# Serf WAN (federation) is unused on a single dev agent: -1 disables it.
	local wan=${CONSUL_SERF_WAN_PORT:--1}
	local timeout=${CONSUL_START_TIMEOUT:-30}

	"$bin" agent -dev \
		-bind=127.0.0.1 -client=127.0.0.1 -advertise=127.0.0.1 \
		-node=sluice-dev -data-dir="$dir/data" \
		-http-port="$http" -dns-port=-1 -grpc-port=-1 -grpc-tls-port=-1 \
		-serf-lan-port="$serf" -serf-wan-port="$wan" -server-port="$server" \
		>"$dir/consul.log" 2>&1 </dev/null &
	local pid=$!
	echo "$pid" >"$dir/consul.pid"

	local deadline=$(($(date +%s) + timeout)) leader=""
	while :; do
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 20 "$dir/consul.log" >&2 || true
			die "consul exited during start; log in $dir/consul.log"
		fi
		leader=$(curl -fsS --max-time 2 "http://127.0.0.1:$http/v1/status/leader" 2>/dev/null || true)
		if [[ -n "$leader" && "$leader" != '""' ]]; then
			break
		fi
		if (($(date +%s) >= deadline)); then
			kill "$pid" 2>/dev/null || true
			tail -n 20 "$dir/consul.log" >&2 || true
			die "no leader after ${timeout}s; log in $dir/consul.log"
		fi
		sleep 0.1
	done
	echo "CONSUL_HTTP_ADDR=127.0.0.1:$http"
}

cmd_stop() {
	local dir=${1:-}
	[[ -n "$dir" ]] || die "stop needs a directory"
	stop_pidfile "$dir/consul.pid"
}

case "${1:-}" in
build) cmd_build ;;
path) cmd_path ;;
start) cmd_start "${2:-}" ;;
stop) cmd_stop "${2:-}" ;;
*) usage 17 ;;
esac
