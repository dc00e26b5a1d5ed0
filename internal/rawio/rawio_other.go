//go:build !linux

package rawio

import "net"

// Wrap returns nc unchanged: the raw path exists on Linux only.
func Wrap(nc net.Conn) net.Conn { return nc }
