package middleware

import (
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/internal/problem"
)

// ReasonInsufficientClaims: the token verified, but its claims do not hold
// what the route requires (ClaimRequirements): 403, not 401, since another
// token of the same user would not do better (RFC 6750's
// insufficient_scope). A value of sluice_auth_failures_total's reason
// label beside the reasons a token fails.
const ReasonInsufficientClaims = "insufficient_claims"

// ClaimRequirements are what a route asks of a verified token's claims,
// beyond its signature and times: each claim named must hold one of its
// values (an API's scope, a user's role, a tenant). Authentication says
// who; this says whether they may: a route that only authenticates lets
// any user of the issuer call it.
//
// A claim's value is compared as a set of strings: a string is one value,
// but for "scope" and "scp", which OAuth 2.0 writes space-separated (RFC
// 8693), whose words each are; an array is its elements; a number or a
// boolean is its JSON text. Any other shape holds nothing.
type ClaimRequirements struct {
	names  []string   // sorted
	values [][]string // of names[i]
}

// NewClaimRequirements checks req (claim name → the values any one of which
// it must hold) and returns its requirements.
func NewClaimRequirements(req map[string][]string) (*ClaimRequirements, error) {
	if len(req) == 0 {
		return nil, errors.New("name at least one claim")
	}
	c := &ClaimRequirements{}
	for name := range req {
		c.names = append(c.names, name)
	}
	slices.Sort(c.names)
	for _, name := range c.names {
		vals := req[name]
		if name == "" {
			return nil, errors.New("a claim needs a name")
		}
		if len(vals) == 0 {
			return nil, fmt.Errorf("claim %q: list at least one value", name)
		}
		if slices.Contains(vals, "") {
			return nil, fmt.Errorf("claim %q: a value is empty", name)
		}
		c.values = append(c.values, slices.Clone(vals))
	}
	return c, nil
}

// Allows reports whether claims hold, for each claim named, one of its
// values.
func (c *ClaimRequirements) Allows(claims map[string]any) bool {
	for i, name := range c.names {
		if !holdsAny(claims[name], spaced(name), c.values[i]) {
			return false
		}
	}
	return true
}

// spaced reports whether a claim's string value is a space-separated list.
func spaced(name string) bool { return name == "scope" || name == "scp" }

// holdsAny reports whether the claim value v holds one of want.
func holdsAny(v any, split bool, want []string) bool {
	switch v := v.(type) {
	case string:
		if split {
			return slices.ContainsFunc(strings.Fields(v), func(w string) bool { return slices.Contains(want, w) })
		}
		return slices.Contains(want, v)
	case []any:
		return slices.ContainsFunc(v, func(e any) bool { return holdsAny(e, false, want) })
	case float64:
		return slices.Contains(want, strconv.FormatFloat(v, 'f', -1, 64))
	case bool:
		return slices.Contains(want, strconv.FormatBool(v))
	}
	return false
}

// Middleware returns middleware that serves the requests whose verified
// identity (JWTVerifier.Authenticate, which must run first) Allows, and
// answers any other 403 forbidden with WWW-Authenticate's
// insufficient_scope, telling onFailure (when not nil)
// ReasonInsufficientClaims. Nothing of the token is echoed.
func (c *ClaimRequirements) Middleware(onFailure func(reason string)) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if id, ok := IdentityFrom(r.Context()); ok && c.Allows(id.Claims) {
				next.ServeHTTP(w, r)
				return
			}
			if onFailure != nil {
				onFailure(ReasonInsufficientClaims)
			}
			w.Header().Set("WWW-Authenticate", `Bearer realm="sluice", error="insufficient_scope", error_description="the token does not allow this route"`)
			problem.Write(w, http.StatusForbidden, problem.TypeForbidden, "Forbidden", "the token does not allow this route")
		})
	}
}
