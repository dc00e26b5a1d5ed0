package router

import (
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/sluicehq/sluice/internal/problem"
)

// The target of an HTTP/2 request.
//
// An HTTP/1.1 request's target and Host are checked by the listener's
// server before any handler sees them: its request line cannot hold a
// space in the target (the space ends it), and a Host that is missing or
// not a host (RFC 9112, section 3.2; httpguts.ValidHostHeader) gets a 400.
// An HTTP/2 request carries them in :path and :authority, which
// net/http's HTTP/2 server hands on as they came: a query with a space,
// an authority of any bytes, or none. Forwarded over HTTP/1.1 they were
// what no HTTP/1.1 client could send: a :path of "/t?q=a HTTP/1.1" made
// the request line "GET /t?q=a HTTP/1.1 HTTP/1.1" (request-line
// injection, the downgrade gadget a backend reads as another target or
// version), an authority "a b" a Host left empty and an X-Forwarded-Host
// of "a b", and no authority the node's own address as the Host. So the
// router refuses them with the 400 an HTTP/1.1 client gets for the same,
// as nginx does (its "client sent invalid :path" and "without :authority
// or Host header").

// checkH2Target returns why the target of r, an HTTP/2 request, may not
// be forwarded, or "".
func checkH2Target(r *http.Request) string {
	switch {
	case r.Host == "":
		return "an HTTP/2 request without :authority or Host"
	case !httpguts.ValidHostHeader(r.Host):
		return "the request's :authority or Host is not a valid host"
	case strings.ContainsFunc(r.URL.RawQuery, func(c rune) bool { return c <= ' ' || c == 0x7f }):
		return "the query holds a space or a control character, which would end the forwarded request's target"
	}
	return ""
}

// refuseTarget answers a request whose target the router refuses.
func refuseTarget(w http.ResponseWriter, why string) {
	problem.Write(w, http.StatusBadRequest, problem.TypeBadRequest, "Request target refused", why)
}
