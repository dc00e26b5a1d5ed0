// Package middleware holds the gateway's server-side middleware, each of the
// standard shape func(http.Handler) http.Handler, and Chain to compose them.
//
// Recorder, installed by AccessLog as the outermost layer, remembers when a
// request started to arrive, so that the router charges the budget from that
// moment, and which status was answered, so that the access log can say it.
// Through a JSONHandler, the access log writes its line with an encoder of
// its own, the bytes slog's JSON handler would write at a third of the work.
//
// The edge policies are per-route middleware, built once per configuration
// load: JWTVerifier.Authenticate checks bearer tokens (401 unauthorized) and
// forwards their claims as headers; RateLimiter.Middleware keeps a token
// bucket per client key in a bounded table (429 rate-limited), and waits
// only as long as the request's budget allows. docs/auth.md describes both.
// GlobalRateLimit asks a GlobalStore (redislimit's Redis store) instead, so
// that a limit holds across replicas, and decides by the replica's
// LocalShare or refuses (503) when the store cannot answer in time
// (docs/ratelimit.md). Both set the RateLimit-Policy and RateLimit fields of
// the IETF draft on every answer.
// CORS (over github.com/rs/cors) answers a route's cross-origin preflights
// and adds the Access-Control-* fields to its answers, outside the other two,
// since a browser's preflight carries no token. Compress encodes a route's
// answers (zstd, brotli, gzip) for the clients that accept it, outermost of
// a route's policies; it never decodes requests.
//
// A JWTVerifier's keys are listed, or fetched from a JWK Set URL by a JWKS,
// which keeps the last good set, refreshes it when it is stale or a token
// names a kid it lacks (single-flight, rate-limited), and holds no goroutine
// of its own. IdentityHeaders, first on every route, removes the headers a
// client could forge to look like the gateway's word (claim headers,
// Forwarded, X-Forwarded-*, X-Real-Ip, …), so that a backend may trust
// those the gateway sets.
package middleware
