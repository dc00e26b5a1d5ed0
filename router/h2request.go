package router

import (
	"net/http"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/sluicehq/sluice/internal/problem"
)

// What an HTTP/2 request may carry and an HTTP/1.1 request may not.
//
// An HTTP/1.1 request's target, Host and length are checked by the
// listener's server before any handler sees them: its request line cannot
// hold a space in the target (the space ends it), a Host that is missing or
// not a host (RFC 9112, section 3.2; httpguts.ValidHostHeader) gets a 400,
// and so do Content-Length fields that differ. An HTTP/2 request carries
// its target in :path and :authority, which net/http's HTTP/2 server hands
// on as they came: a query with a space, an authority of any bytes, or
// none; and it holds the body to the first content-length field alone, and
// to none when the stream ended with the header. Forwarded over HTTP/1.1
// they were what no HTTP/1.1 client could send: a :path of "/t?q=a
// HTTP/1.1" made the request line "GET /t?q=a HTTP/1.1 HTTP/1.1"
// (request-line injection, the downgrade gadget a backend reads as another
// target or version), an authority "a b" a Host left empty and an
// X-Forwarded-Host of "a b", and no authority the node's own address as the
// Host; a content-length of 5 with no DATA an empty body. So the router
// refuses them with the 400 an HTTP/1.1 client gets for the same, as nginx
// does (its "client sent invalid :path" and "without :authority or Host
// header").

// checkH2Request returns why r, an HTTP/2 request, may not be forwarded,
// or "".
func checkH2Request(r *http.Request) string {
	switch {
	case r.Host == "":
		return "an HTTP/2 request without :authority or Host"
	case !httpguts.ValidHostHeader(r.Host):
		return "the request's :authority or Host is not a valid host"
	case strings.ContainsFunc(r.URL.RawQuery, func(c rune) bool { return c <= ' ' || c == 0x7f }):
		return "the query holds a space or a control character, which would end the forwarded request's target"
	case !h2LengthAgrees(r):
		return "the request's content-length fields disagree with one another or with its body"
	}
	return ""
}

// h2LengthAgrees reports whether the content-length fields of r, an
// HTTP/2 request, agree with one another and with its body. net/http's
// HTTP/2 server holds the body's DATA to the first field, and to none when
// the stream ended with the header: a request that declared 5 bytes and
// sent none was forwarded as an empty body, where an HTTP/1.1 server waits
// for the 5 bytes and refuses fields that differ.
func h2LengthAgrees(r *http.Request) bool {
	cl := r.Header["Content-Length"]
	if len(cl) == 0 {
		return true
	}
	for _, v := range cl[1:] {
		if v != cl[0] {
			return false
		}
	}
	n, err := strconv.ParseUint(cl[0], 10, 63)
	return err == nil && int64(n) == r.ContentLength
}

// refuseH2Request answers an HTTP/2 request the router refuses.
func refuseH2Request(w http.ResponseWriter, why string) {
	problem.Write(w, http.StatusBadRequest, problem.TypeBadRequest, "Request refused", why)
}
