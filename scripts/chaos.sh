#!/usr/bin/env bash
# chaos.sh runs Sluice's chaos suite (e2e/chaos): faults injected into real gateway,
# backend and Consul processes under load; each scenario prints its figures and
# asserts its goal, with the gateway's default settings.
#
#   scripts/chaos.sh [short] [go test flags]   the short form, as CI runs it (-race; about 1.5 minutes)
#   scripts/chaos.sh full [go test flags]      the full form: 300 req/s, 5 kills, 30 s outages (about 3 minutes),
#                                              and e2e's Consul leader kill with Consul's default raft_multiplier
#
# For one scenario: scripts/chaos.sh short -run 'TestSIGKILL'. The table of figures is
# printed again at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

form=short
if [[ $# -gt 0 && ( $1 == short || $1 == full ) ]]; then
	form=$1
	shift
fi
race=(-race)
if [[ $form == full ]]; then
	race=() # the load generator runs in the test binary: keep it fast at 300 req/s
fi

bash scripts/consul.sh build >/dev/null
out=$(mktemp "${TMPDIR:-/tmp}/sluice-chaos.XXXXXX")
trap 'rm -f "$out"' EXIT
status=0
SLUICE_CHAOS=$form go test "${race[@]}" -count=1 -v -timeout 40m "$@" ./e2e/chaos/ 2>&1 | tee "$out" || status=$?
if [[ $form == full && $# -eq 0 ]]; then
	# The Consul leader killed with Consul's default raft_multiplier (5): an
	# election of about 15 s, where the normal suite runs it with 1.
	SLUICE_CONSUL_RAFT_MULTIPLIER=5 go test -count=1 -v -timeout 10m -run 'TestConsulLeaderKilledUnderLoad' ./e2e/ 2>&1 | tee -a "$out" || status=$?
fi
echo
echo "chaos suite ($form form): figures"
sed -n 's/^ *[a-z_]*_test\.go:[0-9]*: \(| .*\)$/\1/p' "$out"
grep -E '^(--- FAIL|ok|FAIL)' "$out" || true
exit "$status"
