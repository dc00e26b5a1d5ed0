package router

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-chi/chi/v5"
)

// Routes the gateway answers itself.
//
// Not every path of an API is a backend's: an old prefix moved to a new
// one or another host, a retired endpoint that should say 410 rather than
// reach a node that no longer knows it, a robots.txt for the API's host.
// Without these, operators ran a backend of their own for each, and every
// such request paid a node's round trip, its breaker and its budget. A
// route with Redirect or Respond calls no service: it is answered at once,
// after its edge policies (CORS, allow_from, auth, rate limits, header
// edits), which apply as on any route.

// DefaultRedirectStatus is the status of a Redirect that sets none: 307
// Temporary Redirect, which keeps the request's method and body (a 302
// lets clients turn a POST into a GET) and which browsers do not cache for
// good (a mistaken 301 or 308 outlives its fix in every browser that saw
// it). A move meant to last says 308.
const DefaultRedirectStatus = http.StatusTemporaryRedirect

// Defaults of a Respond.
const (
	DefaultRespondStatus      = http.StatusOK
	DefaultRespondContentType = "text/plain; charset=utf-8"
)

// Redirect answers a route's requests with a redirect.
type Redirect struct {
	// To is where to: an absolute http or https URL, or a path from "/".
	// On a route whose Path ends in /*, what the * matched follows To's
	// path, as Rewrite places it: Path /old/* with To /new/ sends
	// /old/a/b to /new/a/b. The request's query goes along, unless To has
	// one of its own.
	To string
	// Status is 301, 302, 303, 307 or 308; zero means
	// DefaultRedirectStatus.
	Status int

	to *url.URL // To, parsed by validate
}

// Respond answers a route's requests with a fixed answer.
type Respond struct {
	// Status is the answer's status, from 200 to 599; zero means
	// DefaultRespondStatus.
	Status int
	// Body is the answer's body; none for 204 and 304.
	Body string
	// ContentType is the body's type; empty means
	// DefaultRespondContentType when there is a body.
	ContentType string
}

var redirectStatuses = map[int]bool{301: true, 302: true, 303: true, 307: true, 308: true}

// validate checks the redirect, and parses To.
func (d *Redirect) validate() error {
	if d.Status != 0 && !redirectStatuses[d.Status] {
		return fmt.Errorf("status %d is no redirect: use 301, 302, 303, 307 or 308", d.Status)
	}
	u, err := url.Parse(d.To)
	switch {
	case d.To == "":
		return errors.New("to is required: an http or https URL, or a path from /")
	case err != nil:
		return fmt.Errorf("to: %v", err)
	case strings.ContainsAny(d.To, " \t\r\n\\") || strings.ContainsFunc(d.To, func(c rune) bool { return c < ' ' || c == 0x7f }):
		return fmt.Errorf("to %q holds a space, a backslash or a control character", d.To)
	case u.Fragment != "":
		return fmt.Errorf("to %q has a fragment: browsers keep the request's", d.To)
	case u.Scheme == "" && u.Host == "" && strings.HasPrefix(u.Path, "/") && !strings.HasPrefix(d.To, "//"):
	case (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.User == nil:
	default:
		return fmt.Errorf("to %q is neither an http or https URL with a host (and no user) nor a path from /", d.To)
	}
	d.to = u
	return nil
}

// location returns where d sends r, a request of the route with pattern
// path. It is built as a url.URL, never by joining strings, and a path
// without a host never starts with two slashes: what the client's path
// adds cannot turn it into another host (/old//evil.example to
// //evil.example), nor into user information of To's host.
func (d *Redirect) location(path string, r *http.Request) string {
	u := *d.to
	if strings.HasSuffix(path, "/*") {
		rest := strings.TrimPrefix(chi.URLParam(r, "*"), "/")
		if r.URL.RawPath == "" {
			u.Path, u.RawPath = joinRest(u.Path, rest), ""
		} else {
			// chi matched the escaped path, so rest is escaped too.
			raw := joinRest(u.EscapedPath(), rest)
			if decoded, err := url.PathUnescape(raw); err == nil {
				u.Path, u.RawPath = decoded, raw
			} else {
				u.Path, u.RawPath = joinRest(u.Path, rest), ""
			}
		}
	}
	if u.Host == "" && strings.HasPrefix(u.EscapedPath(), "//") {
		u.Path, u.RawPath = oneLeadingSlash(u.Path), oneLeadingSlash(u.RawPath)
	} else if u.Host != "" && !strings.HasPrefix(u.Path, "/") {
		u.Path, u.RawPath = "/"+u.Path, ""
	}
	if u.RawQuery == "" && !u.ForceQuery {
		u.RawQuery = r.URL.RawQuery
	}
	return u.String()
}

// joinRest puts rest after prefix, with one slash between them.
func joinRest(prefix, rest string) string {
	if rest == "" || strings.HasSuffix(prefix, "/") {
		return prefix + rest
	}
	return prefix + "/" + rest
}

// oneLeadingSlash returns p with the slashes it starts with made one.
func oneLeadingSlash(p string) string {
	if !strings.HasPrefix(p, "//") {
		return p
	}
	return "/" + strings.TrimLeft(p, "/")
}

// validate checks the answer.
func (a *Respond) validate() error {
	switch {
	case a.Status != 0 && (a.Status < 200 || a.Status > 599):
		return fmt.Errorf("status %d: use one from 200 to 599", a.Status)
	case (a.Status == http.StatusNoContent || a.Status == http.StatusNotModified) && a.Body != "":
		return fmt.Errorf("a %d answer has no body", a.Status)
	case strings.ContainsFunc(a.ContentType, func(c rune) bool { return c < ' ' || c == 0x7f }):
		return fmt.Errorf("content_type %q holds a control character", a.ContentType)
	}
	return nil
}

// serveLocal answers r on a route with Redirect or Respond, and reports
// whether it did.
func (h *routeHandler) serveLocal(w http.ResponseWriter, r *http.Request) bool {
	switch {
	case h.route.Redirect != nil:
		d := h.route.Redirect
		w.Header().Set("Location", d.location(h.route.Path, r))
		w.Header().Set("Content-Length", "0")
		status := d.Status
		if status == 0 {
			status = DefaultRedirectStatus
		}
		w.WriteHeader(status)
		return true
	case h.route.Respond != nil:
		a := h.route.Respond
		status := a.Status
		if status == 0 {
			status = DefaultRespondStatus
		}
		if a.Body != "" {
			ct := a.ContentType
			if ct == "" {
				ct = DefaultRespondContentType
			}
			w.Header().Set("Content-Type", ct)
		}
		if status != http.StatusNoContent && status != http.StatusNotModified {
			w.Header().Set("Content-Length", strconv.Itoa(len(a.Body)))
		}
		w.WriteHeader(status)
		if r.Method != http.MethodHead && a.Body != "" {
			_, _ = io.WriteString(w, a.Body)
		}
		return true
	}
	return false
}
