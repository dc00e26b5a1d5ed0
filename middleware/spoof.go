package middleware

import (
	"io"
	"net/http"
	"net/textproto"
	"slices"
	"strings"
)

// A backend behind the gateway reads some request headers as the gateway's
// word: who the user is (the claim headers of forward_claims), where the
// request came from (X-Forwarded-For, Forwarded, X-Real-Ip…), which URL it
// was for (X-Forwarded-Host, -Proto, -Prefix, X-Original-Url…). A client
// can send any of them. So that a backend may trust them, the gateway removes
// every one of them from every client request, on every route, before
// anything else runs, and sets those it vouches for itself. So too the
// fields that make a backend read another method than the one the gateway
// routed. docs/auth.md states the rule.

// spoofable are the headers, besides the claim headers and every
// X-Forwarded-* one, that the gateway never passes on from a client: it
// sets none of them, and a backend or its framework may believe them.
var spoofable = []string{
	"Forwarded",                // RFC 7239: the gateway speaks X-Forwarded-*
	"X-Forwarded",              // the draft's bare form, read by some libraries
	"X-Real-Ip",                // nginx's realip, many frameworks
	"X-Client-Ip",              // Express/request-ip, Akamai
	"Client-Ip",                // PHP frameworks
	"True-Client-Ip",           // Akamai, Cloudflare
	"X-Cluster-Client-Ip",      // Rackspace, Rails
	"X-Original-Forwarded-For", // ingress-nginx
	"X-Original-Url",           // IIS, Symfony: replaces the request's path
	"X-Rewrite-Url",            // IIS, Symfony: replaces the request's path
	// Method overrides replace the request's method, as the two above its
	// path: GET /items/7 with X-Http-Method-Override: DELETE passes a
	// route that allows GET alone, or GET without auth, and Express's
	// method-override, Symfony, Laravel and Spring's filters delete. The
	// gateway routes any method a client sends: no client needs them.
	"X-Http-Method-Override",
	"X-Http-Method",
	"X-Method-Override",
}

// budgetFields are read by the router in their canonical spelling, and
// replaced by the gateway's own; their other spellings are removed. So is
// X-Request-Id, which RequestID (outside the routes) vets or replaces in
// its canonical spelling only: a client's X_Request_Id would otherwise reach
// a CGI, WSGI or Rack backend, which reads it as X-Request-Id, beside the
// gateway's, and so would a forged X-Request-Id trailer a backend merges
// into the header.
var budgetFields = []string{"Sluice-Budget", "Grpc-Timeout", "X-Request-Id"}

// IdentityHeaders returns middleware that removes from a client's request
// every header a backend could take for the gateway's word, in any case and
// with '_' for '-' (CGI, WSGI and Rack read X_Real_Ip as X-Real-Ip):
//   - claims, the headers the gateway forwards verified claims into;
//   - Forwarded, every X-Forwarded-* field, and the client-address and
//     URL-override fields of spoofable;
//
// except X-Forwarded-For when the connection's peer is one of proxies (the
// load balancers in front of the gateway), which is kept for the gateway to
// append the peer to. The router then sets X-Forwarded-For, -Host and
// -Proto itself. The gateway puts it first on every route, with or without
// auth.
func IdentityHeaders(claims []string, proxies *TrustedProxies) func(http.Handler) http.Handler {
	names := make([]string, 0, len(claims)+len(spoofable))
	for _, n := range append(slices.Clone(claims), spoofable...) {
		if n = textproto.CanonicalMIMEHeaderKey(n); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	m := newIdentityMatcher(names)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			keepXFF := false
			if _, ok := r.Header["X-Forwarded-For"]; ok && proxies != nil {
				if a, ok := peerAddr(r.RemoteAddr); ok {
					keepXFF = proxies.trusts(a.Unmap())
				}
			}
			m.strip(r.Header, keepXFF)
			guardTrailers(r, m)
			next.ServeHTTP(w, r)
		})
	}
}

// guardTrailers makes r's body strip, once it has ended, the fields of
// r's trailer section that IdentityHeaders removes from its header, and
// the budget fields. The router forwards a client's trailers when it
// declared some (its Trailer field): "Trailer: X-Sluice-Subject" and the
// field after the last chunk would otherwise reach the backend, where a
// server that merges trailers into the header (Tomcat's allowed trailer
// headers, some CGI gateways) believes it. They arrive only as the body
// ends, after every layer ran, so the body's last read removes them, before
// the forward writes them. A request that declared none has no trailers
// the router forwards, and keeps its body as it is.
func guardTrailers(r *http.Request, m *identityMatcher) {
	if len(r.Trailer) == 0 || r.Body == nil || r.Body == http.NoBody {
		return
	}
	r.Body = &trailerGuard{ReadCloser: r.Body, r: r, m: m}
}

// trailerGuard is a request body that strips its request's trailers at
// its end (guardTrailers). The reader of the body and the writer of the
// trailers are one goroutine, one after the other.
type trailerGuard struct {
	io.ReadCloser
	r *http.Request
	m *identityMatcher
}

func (g *trailerGuard) Read(p []byte) (int, error) {
	n, err := g.ReadCloser.Read(p)
	if err == io.EOF {
		g.m.strip(g.r.Trailer, false) // a trailer is never a proxy's
		for _, f := range budgetFields {
			delete(g.r.Trailer, f)
		}
	}
	return n, err
}

// identityMatcher finds the headers IdentityHeaders removes. Most of a
// request's fields are none of them: a field whose length or first letter
// no name has is passed over without comparing it to each.
type identityMatcher struct {
	names   []string // canonical, removed in every spelling
	budget  []string // removed in their '_' spellings only
	lens    uint64   // bit n: some name has n bytes
	letters uint32   // bit c-'a': some name starts with c, in any case
}

func newIdentityMatcher(names []string) *identityMatcher {
	m := &identityMatcher{names: names, budget: budgetFields}
	for _, n := range append(slices.Clone(names), budgetFields...) {
		if len(n) < 64 {
			m.lens |= 1 << len(n)
		} else {
			m.lens |= 1 << 63 // 63 stands for "63 or more"
		}
		if c := lower(n[0]); 'a' <= c && c <= 'z' {
			m.letters |= 1 << (c - 'a')
		}
	}
	return m
}

// strip removes from h the names, every X-Forwarded-* field but the
// canonical X-Forwarded-For when keepXFF, all their spellings with '_' or
// in another case, and the '_' spellings of the budget fields.
func (m *identityMatcher) strip(h http.Header, keepXFF bool) {
	for name := range h {
		if keepXFF && name == "X-Forwarded-For" {
			continue
		}
		if forwardedPrefix(name) {
			delete(h, name)
			continue
		}
		if !m.mayMatch(name) {
			continue
		}
		for _, n := range m.names {
			if len(n) != len(name) {
				continue // most names: not a call to compare them
			}
			if name == n || sameUnderscored(name, n) {
				delete(h, name)
				break
			}
		}
		if strings.IndexByte(name, '_') >= 0 {
			for _, n := range m.budget {
				if sameUnderscored(name, n) {
					delete(h, name)
				}
			}
		}
	}
}

// mayMatch reports whether some name has name's length and first letter.
func (m *identityMatcher) mayMatch(name string) bool {
	l := min(len(name), 63)
	if name == "" || m.lens&(1<<l) == 0 {
		return false
	}
	c := lower(name[0])
	return 'a' <= c && c <= 'z' && m.letters&(1<<(c-'a')) != 0
}

// forwardedPrefix reports whether name starts with "X-Forwarded-", in any
// case and with '_' for '-'.
func forwardedPrefix(name string) bool {
	const p = "x-forwarded-"
	if len(name) <= len(p) {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := lower(name[i])
		if c == '_' {
			c = '-'
		}
		if c != p[i] {
			return false
		}
	}
	return true
}
