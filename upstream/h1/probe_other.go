//go:build !unix

package h1

import "net"

// probe cannot check an idle connection here: it reports every one as
// unusable, so that no connection carries a second request. A connection
// that received bytes nobody asked for would give them to the next request
// as its answer; one new connection per request is the price of never
// doing that.
type probe struct{}

func (p *probe) init(net.Conn) {}

func (p *probe) ok() bool { return false }
