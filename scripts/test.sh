#!/usr/bin/env bash
# Runs every test: builds (once, cached) the Consul agent the registry tests
# run against and Pebble, the ACME server of the certificate tests, then the
# whole suite with the race detector.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -f scripts/consul.sh ]; then
  bash scripts/consul.sh build
fi
SLUICE_PEBBLE=$(bash scripts/pebble.sh build)
export SLUICE_PEBBLE
go vet ./...
exec go test -race -count=1 -timeout 25m "$@" ./...
