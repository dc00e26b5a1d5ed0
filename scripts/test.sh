#!/usr/bin/env bash
# Runs every test: builds (once, cached) the Consul agent the registry tests
# run against, Pebble, the ACME server of the certificate tests, and the
# Jaeger all-in-one the tracing test exports to, then the whole suite with
# the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f scripts/consul.sh ]; then
  bash scripts/consul.sh build
fi
SLUICE_PEBBLE=$(bash scripts/pebble.sh build)
export SLUICE_PEBBLE
if [ -f scripts/jaeger.sh ]; then
  # The tracing e2e test fails (not skips) when SLUICE_JAEGER is set.
  SLUICE_JAEGER="$(bash scripts/jaeger.sh build)"
  export SLUICE_JAEGER
fi
# The Redis tests run Debian's redis-server (.ci/run installs it); naming it
# here makes them fail, not skip, when it is missing.
export SLUICE_REDIS_SERVER="${SLUICE_REDIS_SERVER:-$(command -v redis-server || echo redis-server)}"
go vet ./...
exec go test -race -count=1 -timeout 25m "$@" ./...
