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
DAEMON=consul
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

# free_ports N prints N distinct TCP ports of 127.0.0.1 that nothing
# listens on right now, every socket held until all are known (an agent
# given one port twice exits at start; internal/testbin.FreePorts does the
# same for the tests).
free_ports() {
	python3 - "$1" <<'EOF' 2>/dev/null && return 0
import socket, sys
held = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    held.append(s)
print(" ".join(str(s.getsockname()[1]) for s in held))
EOF
	local ports=() p
	for _ in $(seq 1 200); do
		((${#ports[@]} < $1)) || break
		p=$((20000 + RANDOM % 30000))
		[[ " ${ports[*]} " != *" $p "* ]] || continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			ports+=("$p")
		fi
	done
	((${#ports[@]} == $1)) || die "no free ports found"
	echo "${ports[*]}"
}

# consul_ready: the agent at $http_port has a leader.
consul_ready() {
	local leader
	leader=$(curl -fsS --max-time 2 "http://127.0.0.1:$http_port/v1/status/leader" 2>/dev/null || true)
	[[ -n "$leader" && "$leader" != '""' ]]
}

cmd_start() {
	local dir bin ports free
	dir=$(start_dir "$1")
	bin=$(cmd_path) || die "consul binary not built: run scripts/consul.sh build"
	mkdir -p "$dir/data"
	ports=$(free_ports 3)
	read -r -a free <<<"$ports"
	http_port=${CONSUL_HTTP_PORT:-${free[0]}}
	local serf=${CONSUL_SERF_LAN_PORT:-${free[1]}}
	local server=${CONSUL_SERVER_PORT:-${free[2]}}
	# Serf WAN (federation) is unused on a single dev agent: -1 disables it.
	local wan=${CONSUL_SERF_WAN_PORT:--1}

	run_until_ready "$dir" "${CONSUL_START_TIMEOUT:-30}" consul_ready \
		"$bin" agent -dev \
		-bind=127.0.0.1 -client=127.0.0.1 -advertise=127.0.0.1 \
		-node=sluice-dev -data-dir="$dir/data" \
		-http-port="$http_port" -dns-port=-1 -grpc-port=-1 -grpc-tls-port=-1 \
		-serf-lan-port="$serf" -serf-wan-port="$wan" -server-port="$server"
	echo "CONSUL_HTTP_ADDR=127.0.0.1:$http_port"
}

cached_main 17 "$@"
