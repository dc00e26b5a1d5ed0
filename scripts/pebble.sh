#!/usr/bin/env bash
# pebble.sh installs the pinned Pebble, Let's Encrypt's ACME test server, used
# by Sluice's ACME tests (the tests start it themselves, with their own config).
#
#   scripts/pebble.sh build   install pebble v2.10.3 from the Go module proxy (cached)
#                             and print the binary's path
#   scripts/pebble.sh path    print the cached binary's path; exit 1 when absent
#
# Environment:
#   SLUICE_CACHE   cache root (default $HOME/.cache/sluice)
#
# The tests find the binary with `scripts/pebble.sh path`, or in SLUICE_PEBBLE.
# Pebble is MPL-2.0 licensed.
set -euo pipefail

PEBBLE_VERSION=2.10.3
TOOL=pebble.sh
# shellcheck source=lib/cached.sh
source "$(dirname "$0")/lib/cached.sh"
cached_init "pebble-v$PEBBLE_VERSION" pebble

cmd_build() {
	if [[ -x "$CACHED_BIN" ]]; then
		echo "$CACHED_BIN"
		return 0
	fi
	command -v go >/dev/null || die "go toolchain not found in PATH"
	local work start
	start=$(date +%s)
	work=$(mktemp -d "${TMPDIR:-/tmp}/pebble-build.XXXXXX")
	# shellcheck disable=SC2064 # expand $work now
	trap "rm -rf '$work'" EXIT
	mkdir -p "$CACHED_DIR"
	echo "pebble.sh: installing pebble v$PEBBLE_VERSION..." >&2
	# Pebble's module has no replace directive: go install, outside any
	# module so the caller's go.mod plays no part.
	(cd "$work" && GOFLAGS=-mod=mod GOWORK=off GO111MODULE=on CGO_ENABLED=0 GOBIN="$work/bin" \
		go install -trimpath "github.com/letsencrypt/pebble/v2/cmd/pebble@v$PEBBLE_VERSION") ||
		die "go install of pebble v$PEBBLE_VERSION failed"
	mv "$work/bin/pebble" "$CACHED_BIN"
	echo "pebble.sh: installed in $(($(date +%s) - start))s" >&2
	echo "$CACHED_BIN"
}

cached_main 13 "$@"
