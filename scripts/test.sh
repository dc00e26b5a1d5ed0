#!/usr/bin/env bash
# Runs every test: builds (once, cached) the Consul agent the registry tests
# run against, Pebble, the ACME server of the certificate tests, and the
# Jaeger all-in-one the tracing test exports to (redis-server comes from
# Debian's package), then the whole suite with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."
# Each program is named in a variable: a test that needs it then fails,
# rather than skips, when it is missing (internal/testbin).
SLUICE_CONSUL=$(bash scripts/consul.sh build)
export SLUICE_CONSUL
SLUICE_PEBBLE=$(bash scripts/pebble.sh build)
export SLUICE_PEBBLE
SLUICE_JAEGER=$(bash scripts/jaeger.sh build)
export SLUICE_JAEGER
# Debian's redis-server (.ci/run installs it).
export SLUICE_REDIS_SERVER="${SLUICE_REDIS_SERVER:-$(command -v redis-server || echo redis-server)}"
go vet ./...
exec go test -race -count=1 -timeout 25m "$@" ./...
