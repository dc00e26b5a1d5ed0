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
CACHE_ROOT="${SLUICE_CACHE:-$HOME/.cache/sluice}"
JAEGER_DIR="$CACHE_ROOT/jaeger-v$JAEGER_VERSION"
JAEGER_BIN="$JAEGER_DIR/jaeger"

die() {
	echo "jaeger.sh: $*" >&2
	exit 1
}

usage() {
	sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

cmd_path() {
	[[ -x "$JAEGER_BIN" ]] || return 1
	echo "$JAEGER_BIN"
}

cmd_build() {
	if [[ -x "$JAEGER_BIN" ]]; then
		echo "$JAEGER_BIN"
		return 0
	fi
	command -v go >/dev/null || die "go toolchain not found in PATH"
	local work src start
	start=$(date +%s)
	work=$(mktemp -d "${TMPDIR:-/tmp}/jaeger-build.XXXXXX")
	# shellcheck disable=SC2064 # expand $work now
	trap "chmod -R u+w '$work' 2>/dev/null; rm -rf '$work'" EXIT

	# Build outside any module so the caller's go.mod plays no part. `go install
	# module@version` refuses a module with replace directives; building inside a
	# copy of the module honours them.
	export GOFLAGS=-mod=mod GOWORK=off GO111MODULE=on
	src=$(cd "$work" && go mod download -json "github.com/jaegertracing/jaeger@v$JAEGER_VERSION" |
		sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[[ -n "$src" && -d "$src" ]] || die "go mod download of jaeger v$JAEGER_VERSION failed"

	cp -R "$src" "$work/jaeger"
	chmod -R u+w "$work/jaeger"
	cd "$work/jaeger"
	if grep -Eq '=>[[:space:]]*\.' go.mod; then
		die "jaeger go.mod has a local replace: $(grep -E '=>[[:space:]]*\.' go.mod)"
	fi
	echo "jaeger.sh: building jaeger v$JAEGER_VERSION (takes minutes)..." >&2
	go mod download
	mkdir -p "$JAEGER_DIR"
	CGO_ENABLED=0 go build -trimpath -o "$JAEGER_BIN.tmp" ./cmd/jaeger
	mv "$JAEGER_BIN.tmp" "$JAEGER_BIN"
	echo "jaeger.sh: built in $(($(date +%s) - start))s" >&2
	echo "$JAEGER_BIN"
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
	local pidfile="$dir/jaeger.pid" pid
	[[ -f "$pidfile" ]] || return 0
	pid=$(cat "$pidfile")
	if kill -0 "$pid" 2>/dev/null; then
		kill -TERM "$pid" 2>/dev/null || true
		for _ in $(seq 1 100); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$pidfile"
}

case "${1:-}" in
build) cmd_build ;;
path) cmd_path ;;
start) cmd_start "${2:-}" ;;
stop) cmd_stop "${2:-}" ;;
*) usage ;;
esac
