#!/usr/bin/env bash
# jaeger.sh builds and runs the pinned Jaeger all-in-one used by Sluice's tracing tests.
#
#   scripts/jaeger.sh build       build jaeger v1.75.0 (./cmd/jaeger) from the Go module proxy (cached)
#   scripts/jaeger.sh path        print the cached binary's path; exit 1 when absent
#
# Environment:
#   SLUICE_CACHE          cache root (default $HOME/.cache/sluice)
#
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
	sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//' >&2
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

case "${1:-}" in
build) cmd_build ;;
path) cmd_path ;;
*) usage ;;
esac
