#!/usr/bin/env bash
# jaeger.sh builds and runs the pinned Jaeger all-in-one used by Sluice's tracing tests.
#
#   scripts/jaeger.sh build       build jaeger v1.75.0 (./cmd/jaeger) from the Go module proxy (cached)
#   scripts/jaeger.sh path        print the cached binary's path; exit 1 when absent
#   scripts/jaeger.sh start DIR   start the all-in-one (in-memory storage, its standard ports:
#                                 OTLP 4317 gRPC and 4318 HTTP, UI and query API 16686) with its
#                                 log in DIR, wait for the query API, print JAEGER_QUERY=...
#   scripts/jaeger.sh stop DIR    stop the process whose pid is in DIR/jaeger.pid
#
# Environment:
#   SLUICE_CACHE          cache root (default $HOME/.cache/sluice)
#   JAEGER_START_TIMEOUT  seconds start waits for the query API (default 60)
#
# The tests (e2e/tracing_test.go) start the binary themselves, on free ports.
# Jaeger is Apache-2.0 licensed.
set -euo pipefail

JAEGER_VERSION=1.75.0
TOOL=jaeger.sh
# shellcheck source=lib/cached.sh
source "$(dirname "$0")/lib/cached.sh"
cached_init "jaeger-v$JAEGER_VERSION" jaeger

cmd_build() {
	build_from_module github.com/jaegertracing/jaeger "$JAEGER_VERSION" ./cmd/jaeger
}

cmd_start() {
	local dir=${1:-}
	[[ -n "$dir" ]] || die "start needs a directory"
	local bin
	bin=$(cmd_path) || die "jaeger binary not built: run scripts/jaeger.sh build"
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	if [[ -f "$dir/jaeger.pid" ]] && kill -0 "$(cat "$dir/jaeger.pid")" 2>/dev/null; then
		die "jaeger already runs from $dir (pid $(cat "$dir/jaeger.pid"))"
	fi
	local timeout=${JAEGER_START_TIMEOUT:-60}
	# Without --config the binary runs its embedded all-in-one configuration.
	"$bin" >"$dir/jaeger.log" 2>&1 </dev/null &
	local pid=$!
	echo "$pid" >"$dir/jaeger.pid"
	local deadline=$(($(date +%s) + timeout))
	until curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:16686/api/services" 2>/dev/null; do
		if ! kill -0 "$pid" 2>/dev/null; then
			tail -n 20 "$dir/jaeger.log" >&2 || true
			die "jaeger exited during start; log in $dir/jaeger.log"
		fi
		if (($(date +%s) >= deadline)); then
			kill "$pid" 2>/dev/null || true
			die "no query API after ${timeout}s; log in $dir/jaeger.log"
		fi
		sleep 0.2
	done
	echo "JAEGER_QUERY=127.0.0.1:16686"
}

cmd_stop() {
	local dir=${1:-}
	[[ -n "$dir" ]] || die "stop needs a directory"
	stop_pidfile "$dir/jaeger.pid"
}

case "${1:-}" in
build) cmd_build ;;
path) cmd_path ;;
start) cmd_start "${2:-}" ;;
stop) cmd_stop "${2:-}" ;;
*) usage 16 ;;
esac
