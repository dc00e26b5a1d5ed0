package pebbletest

import (
	"testing"

	"github.com/sluicehq/sluice/internal/testbin"
)

// pebble is the Pebble scripts/pebble.sh installs (cached), which
// scripts/test.sh names in SLUICE_PEBBLE.
var pebble = testbin.Program{
	Name:   "pebble",
	Env:    "SLUICE_PEBBLE",
	Script: "scripts/pebble.sh",
	Hint:   "run scripts/pebble.sh build",
}

// Binary returns the path of the Pebble binary. When there is none it
// fails the test under scripts/test.sh or CI, and skips it otherwise (see
// package testbin).
func Binary(t testing.TB) string {
	t.Helper()
	return pebble.Find(t)
}
