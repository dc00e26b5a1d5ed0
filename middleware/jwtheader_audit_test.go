package middleware_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sluicehq/sluice/middleware"
)

// forgedWithHeader signs a token whose header carries extra, with a key
// the verifier does not hold.
func forgedWithHeader(t testing.TB, extra map[string]any) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil))
	tok.Header["kid"] = "s1"
	for k, v := range extra {
		tok.Header[k] = v
	}
	s, err := tok.SignedString([]byte("not the provider's secret, 32 b!"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestForgedTokenHeaderCostsNoMoreThanItsSignature: as its claims
// (TestForgedTokenClaimsAreNotDecoded), a forged token's header of many
// members, or of arrays nested thousands deep, must cost no more than a
// small one's: jwt/v5 decodes the header into a map before the algorithm
// is even checked, and every value of it, for nothing (the verifier reads
// alg, kid and crit). Counted in allocations, and timed for the report.
func TestForgedTokenHeaderCostsNoMoreThanItsSignature(t *testing.T) {
	v := provider(t, []string{"HS256"}, middleware.JWTKey{ID: "s1", Key: hmacSecret})
	many := map[string]any{}
	for i := range 300 {
		many[fmt.Sprintf("h%d", i)] = i
	}
	deep := map[string]any{"x": jsonRaw(strings.Repeat("[", 2500) + strings.Repeat("]", 2500))}
	check := func(tok string) {
		_, err := v.Verify(tok)
		var ae *middleware.AuthError
		if !errors.As(err, &ae) || ae.Reason != middleware.ReasonSignature && ae.Reason != middleware.ReasonMalformed {
			t.Fatalf("forged token: %v, want a bad signature or malformed", err)
		}
	}
	allocs := func(tok string) float64 { return testing.AllocsPerRun(20, func() { check(tok) }) }
	timed := func(tok string) time.Duration {
		start := time.Now()
		for range 200 {
			check(tok)
		}
		return time.Since(start) / 200
	}
	small := forgedWithHeader(t, nil)
	base := allocs(small)
	for name, tok := range map[string]string{"300 header members": forgedWithHeader(t, many), "header nested 2500 deep": forgedWithHeader(t, deep)} {
		if len(tok) > middleware.MaxTokenBytes {
			t.Fatalf("%s: %d bytes, over the limit", name, len(tok))
		}
		n := allocs(tok)
		t.Logf("%s (%d bytes): %.0f allocations, %v; a small forged token: %.0f, %v", name, len(tok), n, timed(tok), base, timed(small))
		if n > base+32 {
			t.Errorf("%s: %.0f allocations, against %.0f for a small forged token: its header was decoded", name, n, base)
		}
	}
	// A header as issuers write them, with every registered member
	// (an embedded JWK and a certificate chain among them), verifies.
	plain := sign(t, jwt.SigningMethodHS256, hmacSecret, "s1", claims(nil))
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil))
	for k, val := range map[string]any{"kid": "s1", "typ": "at+jwt", "cty": "JWT", "jku": "https://id.example/jwks",
		"x5u": "https://id.example/cert", "x5t": "abc", "x5t#S256": "def", "x5c": []string{"MIIB1", "MIIB2", "MIIB3"},
		"jwk": map[string]any{"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "BBBB", "use": "sig", "key_ops": []string{"verify"}}} {
		tok.Header[k] = val
	}
	if rich, err := tok.SignedString(hmacSecret); err != nil {
		t.Fatal(err)
	} else if _, err := v.Verify(rich); err != nil {
		t.Errorf("a token with a rich header: %v", err)
	}
	if _, err := v.Verify(plain); err != nil {
		t.Errorf("a plain token: %v", err)
	}
}
