package middleware

import (
	"net/http"

	"github.com/sluicehq/sluice/internal/problem"
)

// AllowFrom returns middleware that serves only the requests whose client
// address is in allowed, and answers every other 403 forbidden
// (problem+json), before the handler runs: a route for an office's
// network, a partner's, a cluster's. The client's address is the one rate
// limits read (TrustedProxies.ClientIP): the connection's peer, or, through
// proxies, the right-most address of X-Forwarded-For that is not a trusted
// proxy, which a client cannot forge (every trusted proxy appends the peer
// it saw). A request whose client address cannot be read is refused.
// onRefused, when not nil, is called for each refusal.
func AllowFrom(allowed *Networks, proxies *TrustedProxies, onRefused func()) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if a := proxies.ClientIP(r); a.IsValid() && allowed.Contains(a) {
				next.ServeHTTP(w, r)
				return
			}
			if onRefused != nil {
				onRefused()
			}
			problem.Write(w, http.StatusForbidden, problem.TypeForbidden, "Forbidden",
				"the route does not take requests from the client's address")
		})
	}
}
