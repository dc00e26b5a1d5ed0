package consultest

import (
	"testing"

	"github.com/sluicehq/sluice/internal/testbin"
)

// consul is the Consul agent scripts/consul.sh builds (cached), which
// scripts/test.sh names in SLUICE_CONSUL.
var consul = testbin.Program{
	Name:   "consul",
	Env:    "SLUICE_CONSUL",
	Script: "scripts/consul.sh",
	Hint:   "run scripts/consul.sh build",
}

// Binary returns the path of the Consul binary. When there is none it fails
// the test under scripts/test.sh or CI, and skips it otherwise (see
// package testbin).
func Binary(t testing.TB) string {
	t.Helper()
	return consul.Find(t)
}
