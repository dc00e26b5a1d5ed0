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
DAEMON=jaeger
cached_init "jaeger-v$JAEGER_VERSION" jaeger

cmd_build() {
	build_from_module github.com/jaegertracing/jaeger "$JAEGER_VERSION" ./cmd/jaeger
}

# jaeger_ready: the query API answers.
jaeger_ready() {
	curl -fsS --max-time 2 -o /dev/null "http://127.0.0.1:16686/api/services" 2>/dev/null
}

cmd_start() {
	local dir bin
	dir=$(start_dir "$1")
	bin=$(cmd_path) || die "jaeger binary not built: run scripts/jaeger.sh build"
	# Without --config the binary runs its embedded all-in-one configuration.
	run_until_ready "$dir" "${JAEGER_START_TIMEOUT:-60}" jaeger_ready "$bin"
	echo "JAEGER_QUERY=127.0.0.1:16686"
}

cached_main 16 "$@"
