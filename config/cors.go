package config

import (
	"fmt"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/middleware"
)

// CORS is a route's cross-origin policy (docs/configuration.md, "CORS").
// A route without one takes defaults.cors; a route's own block replaces the
// default whole (the fields it leaves out take the defaults below, not
// those of defaults.cors).
type CORS struct {
	// Origins allowed: exact origins (https://app.example.com), one
	// wildcard for subdomains (https://*.example.com), or "*" alone.
	// Required.
	Origins []string `yaml:"origins"`
	// Methods allowed. Default: the route's method (with HEAD for GET;
	// GET, HEAD, POST, PUT, PATCH and DELETE for a "*" route).
	Methods []string `yaml:"methods"`
	// Headers are the request fields allowed; "*" allows any. Default:
	// Accept, Content-Type, X-Requested-With.
	Headers []string `yaml:"headers"`
	// ExposeHeaders are the answer fields a page may read. Default: none
	// beyond the CORS-safelisted ones.
	ExposeHeaders []string `yaml:"expose_headers"`
	// Credentials allows cookies and Authorization. Default false; not
	// with origin "*".
	Credentials bool `yaml:"credentials"`
	// MaxAge is how long a browser may cache a preflight's answer, in
	// whole seconds. Default 0: no Access-Control-Max-Age.
	MaxAge time.Duration `yaml:"max_age"`
	// Disabled turns a route's CORS off, when defaults.cors sets one.
	Disabled bool `yaml:"disabled"`
}

// routeCORS returns the CORS block route i uses and the path it was written
// at, or nil.
func (c *Config) routeCORS(i int) (*CORS, string) {
	if cc := c.Routes[i].CORS; cc != nil {
		if cc.Disabled {
			return nil, ""
		}
		return cc, fmt.Sprintf("routes[%d].cors", i)
	}
	if cc := c.Defaults.CORS; cc != nil && !cc.Disabled {
		return cc, "defaults.cors"
	}
	return nil, ""
}

// settings returns the middleware settings of cc on a route of method.
func (cc *CORS) settings(method string) middleware.CORSSettings {
	methods := cc.Methods
	switch {
	case len(methods) > 0:
	case method == "*":
		methods = []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}
	case method == http.MethodGet:
		methods = []string{http.MethodGet, http.MethodHead}
	default:
		methods = []string{method}
	}
	return middleware.CORSSettings{Origins: cc.Origins, Methods: methods, Headers: cc.Headers,
		ExposeHeaders: cc.ExposeHeaders, Credentials: cc.Credentials, MaxAge: cc.MaxAge}
}

// checkCORS returns an error at the field of cc, written at path, that
// cannot be used.
func (c *Config) checkCORS(cc *CORS, path string) error {
	if cc.Disabled {
		return nil
	}
	if len(cc.Origins) == 0 {
		return c.errorAt(path+".origins", "list the origins allowed (or \"*\" for any)")
	}
	for i, o := range cc.Origins {
		at := fmt.Sprintf("%s.origins[%d]", path, i)
		if err := middleware.CheckCORSOrigin(o); err != nil {
			return c.errorAt(at, "%v", err)
		}
		if o == "*" && len(cc.Origins) > 1 {
			return c.errorAt(at, "\"*\" allows any origin: it must be the only one")
		}
		if o == "*" && cc.Credentials {
			return c.errorAt(path+".credentials", "%v", middleware.ErrCORSAnyOriginWithCredentials)
		}
	}
	for i, m := range cc.Methods {
		if err := middleware.CheckCORSMethod(m); err != nil {
			return c.errorAt(fmt.Sprintf("%s.methods[%d]", path, i), "%v", err)
		}
	}
	for _, f := range []struct {
		name string
		list []string
	}{{"headers", cc.Headers}, {"expose_headers", cc.ExposeHeaders}} {
		for i, h := range f.list {
			if err := middleware.CheckCORSHeader(h); err != nil {
				return c.errorAt(fmt.Sprintf("%s.%s[%d]", path, f.name, i), "%v", err)
			}
		}
	}
	if cc.MaxAge < 0 || cc.MaxAge%time.Second != 0 {
		return c.errorAt(path+".max_age", "must be a whole number of seconds, 0 or more")
	}
	return nil
}

// buildCORS checks defaults.cors and every route's cors, and builds the
// policy of each route that has one.
func (c *Config) buildCORS() error {
	if c.Defaults.CORS != nil {
		if err := c.checkCORS(c.Defaults.CORS, "defaults.cors"); err != nil {
			return err
		}
	}
	c.cors = make([]*middleware.CORS, len(c.Routes))
	for i := range c.Routes {
		cc, path := c.routeCORS(i)
		if cc == nil {
			continue
		}
		if err := c.checkCORS(cc, path); err != nil {
			return err
		}
		policy, err := middleware.NewCORS(cc.settings(c.Routes[i].Method))
		if err != nil { // checked above; kept so that no check is missed
			return c.errorAt(path, "%v", err)
		}
		c.cors[i] = policy
	}
	return nil
}

// RouteCORS returns the CORS policy of route i, or nil when it has none.
func (c *Config) RouteCORS(i int) *middleware.CORS {
	if i < len(c.cors) {
		return c.cors[i]
	}
	return nil
}
