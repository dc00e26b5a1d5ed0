package middleware_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sluicehq/sluice/middleware"
)

// forged re-signs tok's header and payload with a key the verifier does
// not hold.
func forged(t testing.TB, c jwt.MapClaims) string {
	return sign(t, jwt.SigningMethodHS256, []byte("not the provider's secret, 32 b!"), "s1", c)
}

// A forged token's claims are not decoded: the signature is checked first,
// so that a payload of thousands of claims, or of arrays nested thousands
// deep, costs a client's forgery no more than a small one's (0.9 to 1.2 ms
// of CPU for 8 KiB, against 0.17 ms, when they were decoded). Counted in
// allocations (decoding one claim takes several), not time.
func TestForgedTokenClaimsAreNotDecoded(t *testing.T) {
	v := provider(t, []string{"HS256"}, middleware.JWTKey{ID: "s1", Key: hmacSecret})
	many := claims(nil)
	for i := range 300 {
		many[fmt.Sprintf("c%d", i)] = i
	}
	deep := claims(map[string]any{"x": jsonRaw(strings.Repeat("[", 2000) + strings.Repeat("]", 2000))})
	small := forged(t, claims(nil))
	allocs := func(tok string) float64 {
		return testing.AllocsPerRun(20, func() {
			_, err := v.Verify(tok)
			var ae *middleware.AuthError
			if !errors.As(err, &ae) || ae.Reason != middleware.ReasonSignature {
				t.Fatalf("forged token: %v, want a bad signature", err)
			}
		})
	}
	base := allocs(small)
	for name, tok := range map[string]string{"300 claims": forged(t, many), "nested 2000 deep": forged(t, deep)} {
		if len(tok) > middleware.MaxTokenBytes {
			t.Fatalf("%s: %d bytes, over the limit", name, len(tok))
		}
		// jwt/v5's check that the payload is JSON grows its scanner's
		// stack with the depth: a dozen allocations; decoding, thousands.
		if n := allocs(tok); n > base+32 {
			t.Errorf("%s: %.0f allocations, against %.0f for a small forged token: its claims were decoded", name, n, base)
		}
	}
	// The same claims, signed with the provider's key, are decoded.
	id, err := v.Verify(sign(t, jwt.SigningMethodHS256, hmacSecret, "s1", many))
	if err != nil || id.Claims["c299"] != 299.0 || id.Subject != "user-7" {
		t.Fatalf("a good token of 300 claims: %v, claims %v", err, id)
	}
}

// jsonRaw is a claim's value written as it is.
type jsonRaw string

func (r jsonRaw) MarshalJSON() ([]byte, error) { return []byte(r), nil }
