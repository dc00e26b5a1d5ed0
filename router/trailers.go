package router

import (
	"io"
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// A backend's trailers, fields sent after a chunked body, reach the client
// as net/http lets a handler send them: the names the backend declared in
// its Trailer field are declared again before the header goes out (Trailer
// is hop-by-hop, so copyHeader leaves it), and their values, known only once
// the body was read to its end, are set in the header map after the body.
// A trailer the backend sent without declaring it is set under
// http.TrailerPrefix, which both listener servers send as a trailer too.
// A body that carries trailers is a chunked one, which isStream flushes from
// its header on, so the client's framing is chunked too and has room for
// them.
//
// A trailer crosses under the rules a header field does, and one more
// (trailerCrosses): the listener servers filtered some names and not
// others (net/http's sends every undeclared trailer, Connection and
// Content-Length included), so the router decides, the same on each.
//
// A client's trailers, which the router forwards when the client declared
// some (its Trailer field), cross under the same rule: without it,
// "Trailer: Host, Authorization" and those fields after the last chunk
// reached the backend, where a server that merges trailers into the header
// would take a Host the gateway never routed by, or credentials it never
// checked. (middleware.IdentityHeaders strips the identity fields it
// guards from them too.)

// MaxTrailerSection is the most bytes a request's trailers may take, as
// HTTP/1.1 writes them ("Name: value" lines and the empty line ending
// them). It is net/http's: its server, and so both listener servers, read
// a chunked body's trailers within a 4 KiB buffer and fail the body beyond
// it ("suspiciously long trailer"), as a net/http backend does a forward's.
// An HTTP/2 client's trailers come in a header block of their own, which
// net/http's HTTP/2 server takes up to the listener's header limit: the
// router refuses them past this bound too (400, a BodyError at the body's
// end), where it used to forward them for the backend to fail the body
// whole. A client's request is refused alike whatever its protocol.
const MaxTrailerSection = 4096

// trailerSection returns the bytes t takes as HTTP/1.1 trailers.
func trailerSection(t http.Header) int {
	if len(t) == 0 {
		return 0
	}
	n := len("\r\n")
	for k, vs := range t {
		for _, v := range vs {
			n += len(k) + len(": ") + len(v) + len("\r\n")
		}
	}
	return n
}

// trailerCrosses reports whether the trailer k goes on, the backend's to
// the client or the client's to the backend: not a hop-by-hop field nor one
// its sender's Connection field named (named), as for the header's fields,
// and not one that a trailer must not carry, those that frame, route, authenticate or describe the
// message (RFC 9110, section 6.5.1; httpguts.ValidTrailerHeader's list,
// which net/http applies to the trailers a handler declares).
func trailerCrosses(k string, named []string) bool {
	return crosses(k, named) && httpguts.ValidTrailerHeader(k)
}

// announceTrailers declares in dst the trailer names in trailer (the
// response's Trailer map, whose keys the parser filled from the backend's
// Trailer field) that cross (trailerCrosses), and returns how many it
// declared.
func announceTrailers(dst http.Header, trailer http.Header, named []string) int {
	if len(trailer) == 0 {
		return 0
	}
	names := make([]string, 0, len(trailer))
	for k := range trailer {
		if trailerCrosses(k, named) {
			names = append(names, k)
		}
	}
	if len(names) == 0 {
		return 0
	}
	dst["Trailer"] = []string{strings.Join(names, ", ")}
	return len(names)
}

// copyTrailers sets in dst the trailers read after the body that cross
// (trailerCrosses): as declared names when they are exactly the declared
// ones, else each under http.TrailerPrefix, which covers the declared ones
// as well.
func copyTrailers(dst http.Header, trailer http.Header, declared int, named []string) {
	if len(trailer) == 0 {
		return // nearly every answer: no iteration to start
	}
	n := 0
	for k := range trailer {
		if trailerCrosses(k, named) {
			n++
		}
	}
	if n == 0 {
		return
	}
	prefix := http.TrailerPrefix
	if n == declared {
		prefix = ""
	}
	for k, vv := range trailer {
		if trailerCrosses(k, named) {
			dst[prefix+k] = vv
		}
	}
}

// dropTrailers removes from h, a client's trailers, those that do not
// cross (trailerCrosses), named being the fields the client's Connection
// field names.
func dropTrailers(h http.Header, named []string) {
	if len(h) == 0 {
		return
	}
	for k := range h {
		if !trailerCrosses(k, named) {
			delete(h, k)
		}
	}
}

// trailerFilter is a streamed request body that drops, at its end, the
// trailers that do not cross (dropTrailers): they arrive with the body's
// last read, which the forward's writer makes before it writes them.
type trailerFilter struct {
	io.ReadCloser
	trailer http.Header
	named   []string
}

func (f *trailerFilter) Read(p []byte) (int, error) {
	n, err := f.ReadCloser.Read(p)
	if err == io.EOF {
		dropTrailers(f.trailer, f.named)
	}
	return n, err
}
