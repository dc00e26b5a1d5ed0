package config

import (
	"fmt"

	"github.com/sluicehq/sluice/middleware"
)

// buildHeaders checks defaults.headers and every route's headers, and
// builds the rules of each route that has some (its own, else the
// defaults'). The claim headers of the auth providers are the gateway's
// to write, as the fields middleware.RequestFieldOwned names are.
func (c *Config) buildHeaders() error {
	claims := c.ClaimHeaders()
	build := func(h *Headers, path string) (*middleware.HeaderRules, error) {
		hr, err := middleware.NewHeaderRules(
			middleware.HeaderEdits{Set: h.Request.Set, Remove: h.Request.Remove},
			middleware.HeaderEdits{Set: h.Response.Set, Remove: h.Response.Remove}, claims)
		if err != nil {
			return nil, c.errorAt(path, "%v", err)
		}
		return hr, nil
	}
	var shared *middleware.HeaderRules
	if h := c.Defaults.Headers; h != nil {
		var err error
		if shared, err = build(h, "defaults.headers"); err != nil {
			return err
		}
	}
	c.headers = make([]*middleware.HeaderRules, len(c.Routes))
	for i, r := range c.Routes {
		if r.Headers == nil {
			c.headers[i] = shared
			continue
		}
		hr, err := build(r.Headers, fmt.Sprintf("routes[%d].headers", i))
		if err != nil {
			return err
		}
		c.headers[i] = hr
	}
	return nil
}

// RouteHeaders returns the header rules of route i, or nil.
func (c *Config) RouteHeaders(i int) *middleware.HeaderRules {
	if i < len(c.headers) {
		return c.headers[i]
	}
	return nil
}
