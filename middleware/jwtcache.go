package middleware

import (
	"crypto/sha256"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultTokenCacheSize is how many verified tokens a JWTVerifier remembers
// when JWTSettings.CacheSize is zero.
const DefaultTokenCacheSize = 10_000

// tokenCache remembers tokens that verified, so that a client sending the
// same token on every request pays for one signature check, not one per
// request (an HS256 check is ~16 µs and 71 allocations; an ES256 one ~130
// µs). Tokens are keyed by their SHA-256, so a cached identity is only ever
// returned for the very token that was verified, and an entry costs a few
// hundred bytes whatever the token's size. Only successes are cached:
// failures are cheap to repeat and caching them would let garbage evict
// good tokens. A hit still checks the time claims against the clock, so
// a token expires from the cache exactly when it would fail verification.
// The cache lives as long as its verifier: a reload, which may change keys,
// starts a new one.
type tokenCache struct {
	max    int
	leeway time.Duration
	mu     sync.Mutex
	m      map[[sha256.Size]byte]cachedToken
}

type cachedToken struct {
	id       *Identity
	ring     *keyRing  // the keys it verified against
	exp, nbf time.Time // nbf zero when absent
}

func newTokenCache(size int, leeway time.Duration) *tokenCache {
	return &tokenCache{max: size, leeway: leeway, m: make(map[[sha256.Size]byte]cachedToken)}
}

// get returns the identity of a token that verified before against ring,
// the keys in use now, and whose time claims still hold at now. A stale
// entry is dropped; one verified against other keys is a miss (verified
// again, then replaced).
func (c *tokenCache) get(key [sha256.Size]byte, now time.Time, ring *keyRing) (*Identity, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[key]
	if !ok {
		return nil, false
	}
	if !now.Before(e.exp.Add(c.leeway)) || (!e.nbf.IsZero() && now.Before(e.nbf.Add(-c.leeway))) {
		delete(c.m, key)
		return nil, false
	}
	if e.ring != ring {
		return nil, false
	}
	return e.id, true
}

// put remembers a verified token, evicting an arbitrary entry when full.
func (c *tokenCache) put(key [sha256.Size]byte, id *Identity, ring *keyRing) {
	exp, err := jwt.MapClaims(id.Claims).GetExpirationTime()
	if err != nil || exp == nil { // exp is required: the parser saw it
		return
	}
	e := cachedToken{id: id, ring: ring, exp: exp.Time}
	if nbf, err := jwt.MapClaims(id.Claims).GetNotBefore(); err == nil && nbf != nil {
		e.nbf = nbf.Time
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.m[key]; !ok && len(c.m) >= c.max {
		for k := range c.m { // map order is random enough for eviction
			delete(c.m, k)
			break
		}
	}
	c.m[key] = e
}
