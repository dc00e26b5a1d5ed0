package middleware

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/rs/cors"
	"golang.org/x/net/http/httpguts"

	"github.com/sluicehq/sluice/internal/problem"
)

// CORS answers a route's cross-origin requests (the Fetch standard's CORS
// protocol) with github.com/rs/cors: it answers preflights itself, without
// calling the next handler, and adds the Access-Control-* fields and
// Vary: Origin to the answers of actual requests. It is immutable and safe
// for concurrent use; build one per configuration load.
type CORS struct {
	c *cors.Cors
}

// CORSSettings configure a CORS.
type CORSSettings struct {
	// Origins allowed: exact origins (scheme://host[:port]), origins with
	// one wildcard for the subdomains (https://*.example.com), or "*" alone
	// for any origin. Required.
	Origins []string
	// Methods allowed cross-origin. Required.
	Methods []string
	// Headers are the request fields a cross-origin request may carry
	// beyond the CORS-safelisted ones; "*" allows any. Empty means
	// DefaultCORSHeaders.
	Headers []string
	// ExposeHeaders are the answer fields a page may read beyond the
	// CORS-safelisted ones.
	ExposeHeaders []string
	// Credentials lets requests carry cookies and Authorization
	// (Access-Control-Allow-Credentials: true). Not with Origins "*".
	Credentials bool
	// MaxAge is how long a browser may cache a preflight's answer, in
	// whole seconds; zero sends no Access-Control-Max-Age (browsers then
	// cache for 5s).
	MaxAge time.Duration
}

// DefaultCORSHeaders are the request fields allowed when CORSSettings.Headers
// is empty (the defaults of rs/cors).
var DefaultCORSHeaders = []string{"Accept", "Content-Type", "X-Requested-With"}

// CORSMethods are the methods CORSSettings.Methods may list.
var CORSMethods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions}

// ErrCORSAnyOriginWithCredentials refuses Origins "*" with Credentials:
// browsers refuse the answer "Access-Control-Allow-Origin: *" to a request
// with credentials, so the configuration could only fail at request time.
var ErrCORSAnyOriginWithCredentials = errors.New(`origin "*" cannot be allowed with credentials: list the origins`)

// CheckCORSOrigin returns why o cannot be an entry of CORSSettings.Origins,
// or nil.
func CheckCORSOrigin(o string) error {
	if o == "*" {
		return nil
	}
	parse := o
	if n := strings.Count(o, "*"); n > 1 {
		return fmt.Errorf("%q has more than one *", o)
	} else if n == 1 {
		scheme, host, ok := strings.Cut(o, "://")
		if !ok || !strings.HasPrefix(host, "*.") {
			return fmt.Errorf("%q: a wildcard must start the host, as https://*.example.com", o)
		}
		parse = scheme + "://x" + host[1:]
	}
	u, err := url.Parse(parse)
	if err != nil || u.Scheme == "" || u.Host == "" || u.Opaque != "" {
		return fmt.Errorf("%q is not an origin (scheme://host[:port])", o)
	}
	if u.Path != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil || strings.HasSuffix(o, "?") || strings.HasSuffix(o, "#") {
		return fmt.Errorf("%q is not an origin: an origin is scheme://host[:port], with no path (not even a trailing /)", o)
	}
	return nil
}

// CheckCORSMethod returns why m cannot be an entry of CORSSettings.Methods,
// or nil.
func CheckCORSMethod(m string) error {
	for _, k := range CORSMethods {
		if m == k {
			return nil
		}
	}
	return fmt.Errorf("%q is not one of %s (methods are case-sensitive)", m, strings.Join(CORSMethods, ", "))
}

// CheckCORSHeader returns why h cannot be an entry of CORSSettings.Headers
// or ExposeHeaders, or nil.
func CheckCORSHeader(h string) error {
	if h == "*" || httpguts.ValidHeaderFieldName(h) {
		return nil
	}
	return fmt.Errorf("%q is not a header field name", h)
}

// NewCORS checks s and returns its CORS.
func NewCORS(s CORSSettings) (*CORS, error) {
	if len(s.Origins) == 0 {
		return nil, errors.New("no origins: list the origins allowed, or *")
	}
	for _, o := range s.Origins {
		if err := CheckCORSOrigin(o); err != nil {
			return nil, err
		}
		if o == "*" && len(s.Origins) > 1 {
			return nil, errors.New(`origin "*" must be alone`)
		}
		if o == "*" && s.Credentials {
			return nil, ErrCORSAnyOriginWithCredentials
		}
	}
	if len(s.Methods) == 0 {
		return nil, errors.New("no methods")
	}
	for _, m := range s.Methods {
		if err := CheckCORSMethod(m); err != nil {
			return nil, err
		}
	}
	for _, h := range append(append([]string(nil), s.Headers...), s.ExposeHeaders...) {
		if err := CheckCORSHeader(h); err != nil {
			return nil, err
		}
	}
	if s.MaxAge < 0 || s.MaxAge%time.Second != 0 {
		return nil, fmt.Errorf("max age %v is not a whole number of seconds", s.MaxAge)
	}
	headers := s.Headers
	if len(headers) == 0 {
		headers = DefaultCORSHeaders
	}
	return &CORS{c: cors.New(cors.Options{
		AllowedOrigins:   s.Origins,
		AllowedMethods:   s.Methods,
		AllowedHeaders:   headers,
		ExposedHeaders:   s.ExposeHeaders,
		AllowCredentials: s.Credentials,
		MaxAge:           int(s.MaxAge / time.Second),
	})}, nil
}

// Middleware returns next behind the CORS policy: a preflight is answered
// (204, with the Access-Control-Allow-* fields when it is allowed and
// without any when it is refused) and never reaches next; any other
// request gets the fields its origin earns, and the others of the
// protocol marked set with no value (claimCORSFields), then goes to next.
// An OPTIONS request without Origin is no CORS request at all (rs/cors
// would take one with Access-Control-Request-Method for a preflight): it
// goes to next untouched.
func (c *CORS) Middleware(next http.Handler) http.Handler {
	h := c.c.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		claimCORSFields(w.Header())
		next.ServeHTTP(w, r)
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions && r.Header.Get("Origin") == "" {
			next.ServeHTTP(w, r)
			return
		}
		if manyOrigins(w, r) {
			return
		}
		h.ServeHTTP(w, r)
	})
}

// manyOrigins answers 400 to a request with more than one Origin field,
// and reports whether it did. A user agent sends one (RFC 6454, section
// 7.3), so no browser is refused; rs/cors judged the first and echoed
// every one in Access-Control-Allow-Origin, a field per Origin of the
// client's (1,550 of them made an answer of 1,553 fields), each unchecked.
func manyOrigins(w http.ResponseWriter, r *http.Request) bool {
	if len(r.Header["Origin"]) <= 1 {
		return false
	}
	problem.Write(w, http.StatusBadRequest, problem.TypeBadRequest, "Bad request",
		"more than one Origin field")
	return true
}

// corsOwned are the answer fields of the CORS protocol. A route with a
// policy owns them: the client gets the policy's value of each, or none,
// never a backend's.
var corsOwned = []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials",
	"Access-Control-Expose-Headers", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
	"Access-Control-Max-Age", "Access-Control-Allow-Private-Network"}

// claimCORSFields marks each field of corsOwned that the policy did not set
// in h as set with no value, which the listener servers send as nothing
// and the router keeps over a backend's (router's copyHeader). A backend
// that runs CORS of its own, or echoes any Origin with credentials (a
// common misconfiguration of a framework's CORS), would otherwise let a
// page of an origin the route refuses read a user's answers, or give
// credentials to an origin the route allows without them.
func claimCORSFields(h http.Header) {
	for _, k := range corsOwned {
		if _, set := h[k]; !set {
			h[k] = nil
		}
	}
}

// Preflight returns the handler that answers preflights alone, for
// router.Route.Preflight.
func (c *CORS) Preflight() http.Handler {
	h := c.c.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// rs/cors never calls on for a preflight (no OptionsPassthrough);
		// the router sends it nothing else.
		problem.Write(w, http.StatusMethodNotAllowed, problem.TypeMethod, "Method not allowed",
			"only CORS preflights are answered here")
	}))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !manyOrigins(w, r) {
			h.ServeHTTP(w, r)
		}
	})
}
