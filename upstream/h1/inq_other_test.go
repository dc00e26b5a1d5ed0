//go:build !linux

package h1

import (
	"net"
	"testing"
)

func inq(t testing.TB, nc net.Conn) int {
	t.Skip("no SIOCINQ here")
	return 0
}
