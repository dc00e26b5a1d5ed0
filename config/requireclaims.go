package config

import (
	"fmt"

	"github.com/sluicehq/sluice/middleware"
)

// buildRequireClaims checks every route's require_claims, which needs the
// route's auth (the claims are a verified token's), and builds them.
func (c *Config) buildRequireClaims() error {
	c.requireClaims = make([]*middleware.ClaimRequirements, len(c.Routes))
	for i, r := range c.Routes {
		if r.RequireClaims == nil {
			continue
		}
		path := fmt.Sprintf("routes[%d].require_claims", i)
		if r.Auth == "" {
			return c.errorAt(path, "require_claims needs auth: the claims are those of the token auth verifies")
		}
		req, err := middleware.NewClaimRequirements(r.RequireClaims)
		if err != nil {
			return c.errorAt(path, "%v", err)
		}
		c.requireClaims[i] = req
	}
	return nil
}

// RouteRequireClaims returns what route i asks of its token's claims, or
// nil.
func (c *Config) RouteRequireClaims(i int) *middleware.ClaimRequirements {
	if i < len(c.requireClaims) {
		return c.requireClaims[i]
	}
	return nil
}
