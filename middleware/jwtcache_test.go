package middleware_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sluicehq/sluice/middleware"
)

// cachedVerifier is an HS256 verifier with a clock the test moves and a
// cache of size entries.
func cachedVerifier(t *testing.T, size int) (*middleware.JWTVerifier, *atomic.Int64) {
	t.Helper()
	var offset atomic.Int64 // nanoseconds after t0
	v, err := middleware.NewJWTVerifier(middleware.JWTSettings{
		Issuer: "https://id.example", Audiences: []string{"api"}, Algorithms: []string{"HS256"},
		Keys: []middleware.JWTKey{{Key: hmacSecret}}, Leeway: 30 * time.Second, CacheSize: size,
		Now: func() time.Time { return t0.Add(time.Duration(offset.Load())) },
	})
	if err != nil {
		t.Fatal(err)
	}
	return v, &offset
}

func wantReason(t *testing.T, err error, reason string) {
	t.Helper()
	var ae *middleware.AuthError
	if !errors.As(err, &ae) || ae.Reason != reason {
		t.Fatalf("Verify = %v, want an *AuthError with reason %s", err, reason)
	}
}

func TestTokenCacheHitsTheSameToken(t *testing.T) {
	v, _ := cachedVerifier(t, 0)
	tok := sign(t, jwt.SigningMethodHS256, hmacSecret, "", claims(nil))
	first, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	second, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Fatal("the same token was verified twice: the cache missed")
	}
	// A token that differs in its signature or claims is not the cached one.
	sig := tok[:len(tok)-2] + map[bool]string{true: "AA", false: "BB"}[!strings.HasSuffix(tok, "AA")]
	_, err = v.Verify(sig)
	wantReason(t, err, middleware.ReasonSignature)
	_, err = v.Verify(tamper(t, tok))
	wantReason(t, err, middleware.ReasonSignature)
}

func TestTokenCacheOff(t *testing.T) {
	v, _ := cachedVerifier(t, -1)
	tok := sign(t, jwt.SigningMethodHS256, hmacSecret, "", claims(nil))
	first, _ := v.Verify(tok)
	second, err := v.Verify(tok)
	if err != nil || first == second {
		t.Fatalf("with the cache off, a second Verify returned the same identity (%v)", err)
	}
}

// A cached token expires when verification would fail: at exp plus the
// leeway, not when it leaves the cache.
func TestTokenCacheHonoursExpiry(t *testing.T) {
	v, offset := cachedVerifier(t, 0)
	tok := sign(t, jwt.SigningMethodHS256, hmacSecret, "", claims(nil)) // exp: t0 + 1h
	if _, err := v.Verify(tok); err != nil {
		t.Fatal(err)
	}
	offset.Store(int64(time.Hour + 29*time.Second)) // within the leeway
	if _, err := v.Verify(tok); err != nil {
		t.Fatalf("within the leeway: %v", err)
	}
	offset.Store(int64(time.Hour + 30*time.Second))
	_, err := v.Verify(tok)
	wantReason(t, err, middleware.ReasonExpired)
}

// A token whose nbf lies ahead within the leeway verifies, is cached, and
// stays valid as time goes forward.
func TestTokenCacheNotBefore(t *testing.T) {
	v, offset := cachedVerifier(t, 0)
	tok := sign(t, jwt.SigningMethodHS256, hmacSecret, "", claims(map[string]any{"nbf": t0.Add(20 * time.Second).Unix()}))
	first, err := v.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	offset.Store(int64(time.Minute))
	if second, err := v.Verify(tok); err != nil || second != first {
		t.Fatalf("after nbf: %v (cached: %v)", err, second == first)
	}
}

// The cache holds at most its size: verifying more distinct tokens evicts
// some, which are then verified again (a new identity), never refused.
func TestTokenCacheIsBounded(t *testing.T) {
	v, _ := cachedVerifier(t, 2)
	var toks []string
	ids := map[string]*middleware.Identity{}
	for i := range 3 {
		tok := sign(t, jwt.SigningMethodHS256, hmacSecret, "", claims(map[string]any{"sub": string(rune('a' + i))}))
		toks = append(toks, tok)
		id, err := v.Verify(tok)
		if err != nil {
			t.Fatal(err)
		}
		ids[tok] = id
	}
	hits := 0
	for _, tok := range toks {
		id, err := v.Verify(tok)
		if err != nil {
			t.Fatal(err)
		}
		if id == ids[tok] {
			hits++
		}
	}
	if hits > 2 {
		t.Fatalf("%d of 3 tokens were still cached in a cache of 2", hits)
	}
}
