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
// every other path exactly as it matched it:
//
//   - a dot-segment ("." or ".."), literal or percent-encoded in any case,
//     also when an encoded slash, a backslash or a ";" parameter delimits it;
//     conforming clients resolve them before sending (RFC 3986, section
//     5.2), so only a probe sends one;
//   - a control character (%00 truncates names in C backends, %0d%0a splits
//     lines), and a path that is not UTF-8 once decoded (%c0%ae is the
//     overlong '.' of old decoders);
//   - an encoded slash or backslash (%2F, %5C), a backslash or an empty
//     segment (//), when the path read with them as one slash (what a
//     decoding or slash-merging backend does) would reach another route, or
//     a path the gateway reserves; otherwise such a path is forwarded as it
//     came, so that names holding a slash (%2F) keep working.
//
// Double encoding (%252e) is data: every server decodes a path once.

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

// mergedPath returns u's decoded path with every backslash taken for a
// slash and every run of slashes merged into one, and whether that differs
// from the segments the router matches: whether the path holds an encoded
// slash or backslash, a backslash, or an empty segment.
func mergedPath(u *url.URL) (string, bool) {
	p := u.Path
	if !strings.Contains(p, "//") && strings.IndexByte(p, '\\') < 0 && !hasEncodedSlash(u.RawPath) {
		return "", false
	}
	b := make([]byte, 0, len(p))
	for i := 0; i < len(p); i++ {
		c := p[i]
		if c == '\\' {
			c = '/'
		}
		if c == '/' && len(b) > 0 && b[len(b)-1] == '/' {
			continue
		}
		b = append(b, c)
	}
	return string(b), true
}

// hasEncodedSlash reports whether an escaped path holds %2F or %5C, in
// either case.
func hasEncodedSlash(raw string) bool {
	for i := 0; i+2 < len(raw); i++ {
		if raw[i] != '%' {
			continue
		}
		switch raw[i+1 : i+3] {
		case "2F", "2f", "5C", "5c":
			return true
		}
	}
	return false
}

// checkPath returns why r's path may not be routed, or "". The first test,
// one pass over the path, runs on every request; the second, two lookups
// in the routing tree, only for a path with an encoded slash, a backslash
// or an empty segment.
func (rt *Router) checkPath(r *http.Request) string {
	if r.URL.Opaque != "" {
		return "the request target has no absolute path"
	}
	if msg := pathProblem(r.URL.Path); msg != "" {
		return msg
	}
	merged, differs := mergedPath(r.URL)
	if !differs {
		return ""
	}
	matched := r.URL.RawPath // what chi matches, as in its routeHTTP
	if matched == "" {
		matched = r.URL.Path
	}
	pattern := rt.mux.Find(chi.NewRouteContext(), r.Method, matched)
	if pattern == "" || !rt.forwardsPath(r.Method, pattern) {
		return "" // no route (the mux answers 404 or 405), or one that forwards no path
	}
	for _, p := range rt.reserved {
		if merged == p {
			return "the path, with its slashes merged, is one the gateway reserves"
		}
	}
	if rt.mux.Find(chi.NewRouteContext(), r.Method, merged) != pattern {
		return "the path, read with its encoded slashes, backslashes or empty segments as one slash, matches another route"
	}
	return ""
}

// forwardsPath reports whether the route of method and chi pattern (as
// Find returns them) sends the client's path on: HTTP routes do, RPC
// routes call their endpoint whatever the path.
func (rt *Router) forwardsPath(method, pattern string) bool {
	if f, ok := rt.pathRoutes[method+" "+pattern]; ok {
		return f
	}
	return rt.pathRoutes["* "+pattern]
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
