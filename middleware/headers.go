package middleware

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/textproto"
	"slices"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// HeaderRules edit the header of a route's requests before they are
// forwarded, and of its answers before they are written: a field set to a
// value (every value it had replaced) or removed. A team adds the
// X-Api-Version its backend reads, or drops the Server and X-Powered-By
// fields its framework writes; a security header (X-Content-Type-Options)
// goes on every answer of the route, the gateway's own refusals included.
//
// The fields the gateway itself keeps cannot be edited (RequestFieldOwned,
// ResponseFieldOwned): a message's framing and connection, and those whose
// meaning the gateway vouches for (the budget, the request id, the
// forwarded client, the trace context, the claims of a verified token).
type HeaderRules struct {
	set, remove       []string // request: canonical names
	setVal            []string
	rset, rremove     []string // response
	rsetVal           []string
	requests, answers bool
}

// HeaderEdits are the edits of one side, as a configuration writes them.
type HeaderEdits struct {
	// Set maps a field's name to the one value it is given.
	Set map[string]string
	// Remove lists fields removed.
	Remove []string
}

// requestOwned are the request fields no rule may edit; the claim
// headers of the configuration's auth providers are added by the caller.
var requestOwned = []string{"Host", "Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive",
	"Proxy-Connection", "Te", "Trailer", "Upgrade", "Expect", "Sluice-Budget", "X-Request-Id",
	"Forwarded", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Forwarded-Port",
	"Traceparent", "Tracestate", "Grpc-Timeout"}

// responseOwned are the answer fields no rule may edit.
var responseOwned = []string{"Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive",
	"Trailer", "Upgrade", "Content-Encoding", "X-Request-Id", "Sluice-Retry"}

// RequestFieldOwned reports whether the gateway keeps the request field
// name (in any case) itself: no rule may set or remove it.
func RequestFieldOwned(name string) bool {
	return slices.Contains(requestOwned, textproto.CanonicalMIMEHeaderKey(name))
}

// ResponseFieldOwned reports whether the gateway keeps the answer field
// name itself.
func ResponseFieldOwned(name string) bool {
	return slices.Contains(responseOwned, textproto.CanonicalMIMEHeaderKey(name))
}

// NewHeaderRules checks the edits and returns their rules. owned, when not
// nil, names more request fields no rule may edit (the claim headers). A
// field both set and removed on one side is an error, as is a name that is
// no token, a value that could not travel in a field (a control byte,
// space at either end), and an owned field.
func NewHeaderRules(request, response HeaderEdits, owned []string) (*HeaderRules, error) {
	hr := &HeaderRules{}
	var err error
	if hr.set, hr.setVal, hr.remove, err = edits("request", request, func(n string) bool {
		return RequestFieldOwned(n) || slices.ContainsFunc(owned, func(o string) bool { return strings.EqualFold(o, n) })
	}); err != nil {
		return nil, err
	}
	if hr.rset, hr.rsetVal, hr.rremove, err = edits("response", response, ResponseFieldOwned); err != nil {
		return nil, err
	}
	hr.requests = len(hr.set)+len(hr.remove) > 0
	hr.answers = len(hr.rset)+len(hr.rremove) > 0
	return hr, nil
}

// edits checks one side's edits and returns them canonical, sorted.
func edits(side string, e HeaderEdits, owned func(string) bool) (set, vals, remove []string, err error) {
	check := func(name string) (string, error) {
		if !httpguts.ValidHeaderFieldName(name) {
			return "", fmt.Errorf("%s: %q is not a field name", side, name)
		}
		if owned(name) {
			return "", fmt.Errorf("%s: %s is the gateway's to write", side, textproto.CanonicalMIMEHeaderKey(name))
		}
		return textproto.CanonicalMIMEHeaderKey(name), nil
	}
	for name := range e.Set {
		set = append(set, name)
	}
	slices.Sort(set)
	for i, name := range set {
		v := e.Set[name]
		if set[i], err = check(name); err != nil {
			return nil, nil, nil, err
		}
		if slices.Contains(set[:i], set[i]) {
			return nil, nil, nil, fmt.Errorf("%s: %s is set twice (names are matched without case)", side, set[i])
		}
		if !httpguts.ValidHeaderFieldValue(v) || strings.TrimSpace(v) != v {
			return nil, nil, nil, fmt.Errorf("%s: the value of %s cannot travel in a field (a control byte, or space at an end)", side, set[i])
		}
		vals = append(vals, v)
	}
	for _, name := range e.Remove {
		c, err := check(name)
		if err != nil {
			return nil, nil, nil, err
		}
		if slices.Contains(set, c) {
			return nil, nil, nil, fmt.Errorf("%s: %s is both set and removed", side, c)
		}
		remove = append(remove, c)
	}
	return set, vals, remove, nil
}

// Requests returns the middleware that edits the route's requests, or nil
// when no rule edits them. It runs innermost, just before the route's
// handler, after every check of the client's own fields.
func (hr *HeaderRules) Requests() func(http.Handler) http.Handler {
	if hr == nil || !hr.requests {
		return nil
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			for _, name := range hr.remove {
				delete(r.Header, name)
			}
			for i, name := range hr.set {
				r.Header[name] = []string{hr.setVal[i]}
			}
			next.ServeHTTP(w, r)
		})
	}
}

// Answers returns the middleware that edits the route's answers, or nil
// when no rule edits them. It runs outermost, so that its edits apply to
// every answer of the route, the edge's refusals included, and after the
// layers below wrote their fields. A 1xx answer (a 101 that switches to a
// WebSocket included) is not edited.
func (hr *HeaderRules) Answers() func(http.Handler) http.Handler {
	if hr == nil || !hr.answers {
		return nil
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(&editWriter{ResponseWriter: w, hr: hr}, r)
		})
	}
}

// editWriter edits the answer's header once, as it is written.
type editWriter struct {
	http.ResponseWriter
	hr     *HeaderRules
	edited bool
}

func (w *editWriter) edit() {
	if w.edited {
		return
	}
	w.edited = true
	h := w.ResponseWriter.Header()
	for _, name := range w.hr.rremove {
		delete(h, name)
	}
	for i, name := range w.hr.rset {
		h[name] = []string{w.hr.rsetVal[i]}
	}
}

// WriteHeader implements http.ResponseWriter.
func (w *editWriter) WriteHeader(code int) {
	if code >= 200 {
		w.edit()
	}
	w.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (w *editWriter) Write(p []byte) (int, error) {
	w.edit()
	return w.ResponseWriter.Write(p)
}

// FlushError flushes what was written; an answer not yet begun is begun,
// edited.
func (w *editWriter) FlushError() error {
	w.edit()
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Flush implements http.Flusher.
func (w *editWriter) Flush() { _ = w.FlushError() }

// Hijack hands the connection over.
func (w *editWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the writer below.
func (w *editWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
