#!/usr/bin/env bash
# Runs every test: builds (once, cached) the Consul agent the registry tests
# run against, Pebble, the ACME server of the certificate tests, and the
# Jaeger all-in-one the tracing test exports to, installs Debian's
# redis-server and strace when missing, then runs the whole suite with the race
# detector.
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
# Debian's redis-server, installed when missing (apt-get, as root or
# through sudo); installing it does not start a server: the tests start their
# own on free loopback ports.
if ! command -v redis-server >/dev/null; then
  sudo=
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >/dev/null
fi
export SLUICE_REDIS_SERVER="${SLUICE_REDIS_SERVER:-$(command -v redis-server || echo redis-server)}"
# strace, which upstream/h1's TestSyscallsPerRoundTrip counts system calls
# with: installed the same way when missing, and named so that the test
# fails rather than skips without it.
if ! command -v strace >/dev/null; then
  sudo=
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq strace >/dev/null
fi
export SLUICE_STRACE="${SLUICE_STRACE:-$(command -v strace || echo strace)}"
go vet ./...
exec go test -race -count=1 -timeout 25m "$@" ./...
