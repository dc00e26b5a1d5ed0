//go:build !linux

package h1

import "net"

// probe is a no-op where the non-blocking check is not implemented: stale
// connections are then found by the retry of RoundTrip alone.
type probe struct{}

func (p *probe) init(net.Conn) {}

func (p *probe) ok() bool { return true }
