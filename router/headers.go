package router

import (
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/sluicehq/sluice/budget"
)

// hopByHop reports whether k, a canonical field name, is one of the fields
// that describe one connection, not the request, and so never cross a proxy
// (RFC 9110, section 7.6.1). A switch, which the compiler turns into a
// search by length and value, rather than a loop over a list: every field
// of every request and answer is checked.
func hopByHop(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// copyHeader copies src into dst, leaving out hop-by-hop fields and those
// that src's Connection field names, named (connectionNamed: the caller
// reads them, since the answer's trailers need them too). A field already
// in dst was set by the edge (a route's CORS policy, before the request was
// forwarded) and is kept, even set with no value (a field the edge owns and
// sends none of: CORS's): src's Vary values are added to dst's, so that a
// cache keys the answer on both, and src's value of any other such field
// is dropped.
//
// The edge sets few fields (the request id, CORS's): when dst holds no more
// than four, their names are listed first and each of src's compared with
// them, not looked up in dst, which would hash every name of the answer.
func copyHeader(dst, src http.Header, named []string) {
	var setBuf [4]string
	set, listed := setBuf[:0], len(dst) <= len(setBuf)
	if listed {
		for k := range dst {
			set = append(set, k)
		}
	}
	for k, vv := range src {
		if !crosses(k, named) {
			continue
		}
		if !listed || slices.Contains(set, k) {
			if prior, owned := dst[k]; owned {
				if k == "Vary" {
					dst[k] = append(prior[:len(prior):len(prior)], vv...)
				}
				continue
			}
		}
		dst[k] = vv
	}
}

// dropHopByHop removes from h, in place, the fields copyHeader leaves out:
// hop-by-hop fields and those h's Connection field names, named. It reports
// whether h keeps a Content-Type field, which its pass over the names sees
// at no lookup's cost.
func dropHopByHop(h http.Header, named []string) (typed bool) {
	for k := range h {
		if !crosses(k, named) {
			delete(h, k)
		} else if k == "Content-Type" {
			typed = true
		}
	}
	return typed
}

// connectionNamed appends to named the fields h's Connection field names,
// in their canonical form. The callers pass an array on their stack: a
// request's Connection field names none or a few.
func connectionNamed(named []string, h http.Header) []string {
	for _, v := range h["Connection"] {
		for f := range strings.SplitSeq(v, ",") {
			if f = strings.TrimSpace(f); f != "" {
				named = append(named, http.CanonicalHeaderKey(f))
			}
		}
	}
	if len(named) > scannedNames {
		slices.Sort(named)
		named = slices.Compact(named)
	}
	return named
}

// scannedNames is how many names crosses compares one by one; past it,
// connectionNamed sorts them and crosses searches them. A Connection field
// of thousands of tokens (14,000 fit in a 64 KiB header, beside 3,000
// fields) was compared with every field of the message: 42 million
// comparisons, a request costing 3.5 times one of its size without them.
const scannedNames = 8

// crosses reports whether the field k crosses the proxy: it is not
// hop-by-hop, and not one of named, the fields its header's Connection
// field names (connectionNamed's: sorted when there are more than
// scannedNames).
func crosses(k string, named []string) bool {
	if hopByHop(k) {
		return false
	}
	if len(named) > scannedNames { // sorted by connectionNamed
		_, found := slices.BinarySearch(named, k)
		return !found
	}
	for _, n := range named {
		if k == n {
			return false
		}
	}
	return true
}

// outbound holds what a forward allocates for its request besides the
// request's copy: the outgoing URL and the values of the X-Forwarded-*
// fields, in one allocation instead of two.
type outbound struct {
	url  url.URL
	vals [3]string
}

// setOutbound aims out, the copy of r a forward sends, at u, and gives it
// the outbound header of r (outboundHeader), which is r's own header map.
func setOutbound(out, r *http.Request, u url.URL) {
	o := &outbound{url: u}
	out.URL = &o.url
	out.Header = outboundHeader(r, &o.vals)
}

// outboundHeader makes r's header the header of the request forwarded for
// r, and returns it: the client's fields less hop-by-hop ones, Expect, and
// the budget fields the edge consumed, plus X-Forwarded-For, -Host and
// -Proto, whose values it keeps in vals. A request without a User-Agent
// is forwarded without one, as httputil.ReverseProxy and nginx forward it:
// the field is set with no value, which the writers take for "send none".
//
// It edits r.Header in place rather than copying it into a new map: the
// copy cost two allocations and a store of every field on every request,
// for fields nothing reads once the forward begins. Everything that reads
// the client's fields has read them by then: the listener servers
// (Connection and Expect, as the request is parsed), the middleware (the
// request id, the client's address and trace context, authentication,
// limits, compression's Accept-Encoding) and the route (its budget, an
// upgrade, early hints, CORS). What reads the header afterwards, the
// upstream client's attempts and the access log's trace id (cmd/gateway's
// TestAccessLogNamesRouteNodeBudgetAndIDs reads it after a forward), reads
// what it would read in a copy. A field the client's Connection names is
// dropped before X-Forwarded-For is read, as httputil.ReverseProxy drops
// it, where the copy had still appended a Connection-named X-Forwarded-For.
func outboundHeader(r *http.Request, vals *[3]string) http.Header {
	h := r.Header
	if h == nil {
		h = make(http.Header, 3)
		r.Header = h
	}
	var buf [4]string
	named := connectionNamed(buf[:0], h)
	hasUA := false
	for k := range h {
		switch k {
		case "User-Agent":
			hasUA = crosses(k, named)
		case budget.HeaderName, budget.GRPCHeaderName, // consumed by the edge
			// The client's listener server answers "Expect: 100-continue"
			// when the body is first read; the body then goes on as any other.
			"Expect",
			"X-Forwarded-Host", "X-Forwarded-Proto": // set below
			delete(h, k)
			continue
		}
		if !crosses(k, named) {
			delete(h, k)
		}
	}
	if !hasUA {
		// The client sent none: a field present with no value has the
		// writers (h1's and Request.Write) send none, where they would
		// send Go's own "Go-http-client/1.1" as the client's.
		h["User-Agent"] = nil
	}
	// One backing array for the three values, not three allocations.
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		if prior := h["X-Forwarded-For"]; len(prior) > 0 {
			ip = strings.Join(prior, ", ") + ", " + ip
		}
		vals[0] = ip
		h["X-Forwarded-For"] = vals[0:1:1]
	}
	if r.Host != "" { // an HTTP/1.0 request may name none: no empty field for it
		vals[1] = r.Host
		h["X-Forwarded-Host"] = vals[1:2:2]
	}
	vals[2] = "http"
	if r.TLS != nil {
		vals[2] = "https"
	}
	h["X-Forwarded-Proto"] = vals[2:3:3]
	return h
}
