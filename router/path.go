package router

import (
	"errors"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"

	"github.com/sluicehq/sluice/internal/problem"
)

// Paths at the edge.
//
// A gateway that matches one path and forwards another lets a client choose
// what the backend sees: /pub/../private/x matched as /pub/* and read by the
// backend as /private/x. Normalising such a path (nginx, Envoy's
// normalize_path) fixes what the gateway matches, but not what every backend
// behind it will make of the same bytes: one decodes %2F, another takes a
// backslash for a slash or cuts ";..." off a segment. So the router refuses
// (400) the paths that a backend could read as another path, and forwards
// every other path as it matched it (a rewrite replaces only its prefix).
// It refuses:
//
//   - a dot-segment ("." or ".."), literal or percent-encoded in any case,
//     also when an encoded slash, a backslash or a ";" parameter delimits it;
//     conforming clients resolve them before sending (RFC 3986, section
//     5.2), so only a probe sends one;
//   - a control character (%00 truncates names in C backends, %0d%0a splits
//     lines), and a path that is not UTF-8 once decoded (%c0%ae is the
//     overlong '.' of old decoders);
//   - a path that a lax backend would read as the path of another route, or
//     as one the gateway reserves: read decoded (chi matches an escaped
//     path as escaped, so /%61dmin/x is not /admin/x to it, and is to every
//     backend), with an encoded slash or backslash (%2F, %5C) or a
//     backslash as a slash, empty segments merged, a
//     trailing slash dropped, ";..." cut off each segment, trailing dots
//     and spaces too (laxReading). A path whose lax reading reaches the
//     same route, or none, is forwarded as it came, so that names holding a
//     slash (%2F) keep working.
//
// Double encoding (%252e) is data: every server decodes a path once. Case
// is not folded: routes that differ only in case are the operator's to
// keep apart from a case-insensitive backend.

// pathProblem returns why the decoded path p may not be forwarded, or "".
func pathProblem(p string) string {
	if !utf8.ValidString(p) {
		return "the path is not UTF-8 once decoded"
	}
	start := 0
	for i := 0; i <= len(p); i++ {
		if i < len(p) {
			c := p[i]
			if c < 0x20 || c == 0x7f {
				return "the path holds a control character"
			}
			if c != '/' && c != '\\' {
				continue
			}
		}
		seg := p[start:i]
		if j := strings.IndexByte(seg, ';'); j >= 0 {
			seg = seg[:j]
		}
		if seg == "." || seg == ".." {
			return "the path holds a dot-segment (. or ..), which a backend would resolve to another path"
		}
		start = i + 1
	}
	return ""
}

// laxReading returns the decoded path p as a lax backend may read it:
// backslashes taken for slashes (Windows, some frameworks), each segment
// cut at ';' (servlet path parameters) and cleared of trailing dots and
// spaces (Windows), empty segments merged and a trailing slash dropped
// (slash-merging servers, routers that ignore a trailing slash).
func laxReading(p string) string {
	b := make([]byte, 0, len(p))
	start := 0
	for i := 0; i <= len(p); i++ {
		if i < len(p) && p[i] != '/' && p[i] != '\\' {
			continue
		}
		seg := p[start:i]
		if j := strings.IndexByte(seg, ';'); j >= 0 {
			seg = seg[:j]
		}
		if seg = strings.TrimRight(seg, ". "); seg != "" {
			b = append(b, '/')
			b = append(b, seg...)
		}
		start = i + 1
	}
	if len(b) == 0 {
		return "/"
	}
	return string(b)
}

// readsOtherwise reports whether a backend may read u's path as another
// than the one the router matches: whether the client escaped it otherwise
// than the default encoding (RawPath set: chi then matches the escaped
// form, /%61dmin/x, which a catch-all takes, while every backend decodes it
// to /admin/x), or it holds something laxReading changes (a backslash, a
// ';', an empty segment, a trailing slash, a segment ending in a dot or a
// space).
func readsOtherwise(u *url.URL) bool {
	if u.RawPath != "" {
		return true // an encoded slash or backslash among others
	}
	p := u.Path
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '\\', ';':
			return true
		case '/':
			if i > 0 && (p[i-1] == '/' || i == len(p)-1) {
				return true
			}
		case '.', ' ':
			if i == len(p)-1 || p[i+1] == '/' {
				return true
			}
		}
	}
	return false
}

// plainPath reports whether p holds only bytes that neither pathProblem
// nor readsOtherwise looks at twice, in one pass: printable ASCII without
// '\\', ';', '.' or a space, and no empty segment ("//") nor trailing
// slash. Most paths an API serves are such: for them the two tests
// (a UTF-8 check, a scan cut at every slash, and a third pass) cost
// about 500 instructions a request, and this pass about a tenth of it.
// TestPlainPathNeedsNoCheck and FuzzPlainPath hold it to the two tests: a
// plain path is one they both let through.
func plainPath(p string) bool {
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '/' {
			if i > 0 && (p[i-1] == '/' || i == len(p)-1) {
				return false
			}
			continue
		}
		if !plainPathByte[c] {
			return false
		}
	}
	return true
}

// plainPathByte holds the bytes plainPath takes besides '/'.
var plainPathByte = func() (t [256]bool) {
	for c := 0x21; c < 0x7f; c++ {
		t[c] = true
	}
	for _, c := range "/\\;." {
		t[c] = false
	}
	return t
}()

// pathUse is what a route does with the client's path.
type pathUse uint8

const (
	pathDropped   pathUse = iota // RPC: the endpoint is called whatever the path
	pathAsIs                     // HTTP: forwarded as it is
	pathRewritten                // HTTP: the part the catch-all matched, under the rewrite target
)

// useOf returns how route r uses the client's path.
func useOf(r *Route) pathUse {
	switch {
	case r.Endpoint != "":
		return pathDropped
	case r.Rewrite != "":
		return pathRewritten
	}
	return pathAsIs
}

// pathUse returns how the route of method and chi pattern (as Find
// returns them) uses the client's path.
func (rt *Router) pathUse(method, pattern string) pathUse {
	if u, ok := rt.uses[method+" "+pattern]; ok {
		return u
	}
	return rt.uses["* "+pattern]
}

// checkPath returns why r's path may not be routed, or "". The first test,
// one pass over the path, runs on every request; the second, two lookups
// in the routing tree, only for a path that a lax backend may read as
// another.
func (rt *Router) checkPath(r *http.Request) string {
	if r.URL.Opaque != "" {
		return "the request target has no absolute path"
	}
	if r.URL.RawPath == "" && plainPath(r.URL.Path) {
		return "" // neither test could refuse it
	}
	if msg := pathProblem(r.URL.Path); msg != "" {
		return msg
	}
	if !readsOtherwise(r.URL) {
		return ""
	}
	matched := r.URL.RawPath // what chi matches, as in its routeHTTP
	if matched == "" {
		matched = r.URL.Path
	}
	rctx := chi.NewRouteContext()
	pattern := rt.mux.Find(rctx, r.Method, matched)
	if pattern == "" {
		return "" // no route: the mux answers 404 or 405
	}
	var other string
	switch rt.pathUse(r.Method, pattern) {
	case pathDropped:
		return ""
	case pathAsIs:
		other = laxReading(r.URL.Path)
		for _, p := range rt.reserved {
			if other == p {
				return "the path, as a backend may read it, is one the gateway reserves"
			}
		}
	case pathRewritten:
		// The backend gets the rewrite target and the rest; only a lax
		// reading of the rest can change which route a path belongs to
		// (/pub//admin/x, /pub/admin%2Fx next to a route /pub/admin/*).
		rest := rctx.URLParam("*")
		prefix, err1 := url.PathUnescape(matched[:len(matched)-len(rest)])
		rest, err2 := url.PathUnescape(rest)
		if err1 != nil || err2 != nil {
			return "the path does not decode"
		}
		if lax := laxReading("/" + rest); lax == "/" {
			other = prefix
		} else {
			other = strings.TrimSuffix(prefix, "/") + lax
		}
	}
	// A reading that no route matches sends no other route's path.
	if alt := rt.mux.Find(chi.NewRouteContext(), r.Method, other); alt != "" && alt != pattern {
		return "the path, as a backend may read it (" + other + "), is that of another route"
	}
	return ""
}

// refusePath answers a request whose path the router refuses.
func refusePath(w http.ResponseWriter, why string) {
	problem.Write(w, http.StatusBadRequest, problem.TypeBadRequest, "Path refused", why)
}

// validateRewrite checks a rewrite target: an absolute path with no
// dot-segment or control character, since it is what every forwarded path
// of its route starts with.
func validateRewrite(rw string) error {
	if !strings.HasPrefix(rw, "/") {
		return errors.New("rewrite must start with /")
	}
	if msg := pathProblem(rw); msg != "" {
		return errors.New(strings.Replace(msg, "the path", "rewrite", 1))
	}
	return nil
}

// withinRewrite reports whether path, a forwarded path of a route with a
// rewrite, is the rewrite target or lies under it, with no dot-segment:
// the check after rewriting, which holds by construction unless the code
// above it is wrong.
func (h *routeHandler) withinRewrite(path string) bool {
	base := strings.TrimSuffix(h.route.Rewrite, "/")
	if path != base && !strings.HasPrefix(path, base+"/") {
		return false
	}
	return pathProblem(path) == ""
}
