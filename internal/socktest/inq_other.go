//go:build !linux

package socktest

import (
	"net"
	"testing"
)

// Inq skips the test: SIOCINQ is Linux's.
func Inq(t testing.TB, nc net.Conn) int {
	t.Skip("socktest: no SIOCINQ here")
	return 0
}
