#!/usr/bin/env bash
# Runs every test: builds (once, cached) the Consul agent the registry tests
# run against, then the whole suite with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f scripts/consul.sh ]; then
  bash scripts/consul.sh build
fi
# The Redis tests run Debian's redis-server (.ci/run installs it); naming it
# here makes them fail, not skip, when it is missing.
export SLUICE_REDIS_SERVER="${SLUICE_REDIS_SERVER:-$(command -v redis-server || echo redis-server)}"
go vet ./...
exec go test -race -count=1 -timeout 25m "$@" ./...
