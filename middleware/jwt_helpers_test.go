package middleware_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sluicehq/sluice/middleware"
)

// t0 is the tests' fixed "now".
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return t0 }

var hmacSecret = []byte("0123456789abcdef0123456789abcdef") // 32 bytes

// testKeys are generated once per test binary: RSA generation is slow.
var testKeys = sync.OnceValue(func() (k struct {
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
	ed  ed25519.PrivateKey
}) {
	var err error
	if k.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
		panic(err)
	}
	if k.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		panic(err)
	}
	if _, k.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		panic(err)
	}
	return k
})

// pemOf returns the PKIX PEM encoding of a public key.
func pemOf(t testing.TB, pub any) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// claims returns valid claims for the test provider at t0, with changes.
func claims(changes map[string]any) jwt.MapClaims {
	c := jwt.MapClaims{"sub": "user-7", "iss": "https://id.example", "aud": "api",
		"exp": t0.Add(time.Hour).Unix(), "iat": t0.Add(-time.Minute).Unix(), "email": "ada@example.com"}
	for k, v := range changes {
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
	}
	return c
}

// sign returns a token signed with method and key, with kid when not empty.
func sign(t testing.TB, method jwt.SigningMethod, key any, kid string, c jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, c)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// unsigned returns a token with alg "none" and an empty signature.
func unsigned(header string, c string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc([]byte(c)) + "."
}

// provider returns a verifier for issuer https://id.example, audience api,
// over the given algorithms and keys, forwarding sub and email.
func provider(t testing.TB, algs []string, keys ...middleware.JWTKey) *middleware.JWTVerifier {
	t.Helper()
	v, err := middleware.NewJWTVerifier(middleware.JWTSettings{
		Issuer: "https://id.example", Audiences: []string{"api", "admin"}, Algorithms: algs, Keys: keys,
		Leeway: 30 * time.Second, Now: fixedNow,
		ForwardClaims: map[string]string{"sub": "X-Sluice-Subject", "email": "x-sluice-email"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// seen is what the handler behind Authenticate received.
type seen struct {
	called bool
	header http.Header
	id     *middleware.Identity
}

// serveAuth sends one request with the given header fields through
// Authenticate, and returns the answer, what the next handler saw and the
// failure reasons reported.
func serveAuth(v *middleware.JWTVerifier, fields http.Header) (*httptest.ResponseRecorder, seen, []string) {
	var s seen
	var reasons []string
	h := v.Authenticate(func(r string) { reasons = append(reasons, r) })(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.called, s.header = true, r.Header.Clone()
		s.id, _ = middleware.IdentityFrom(r.Context())
	}))
	req := httptest.NewRequest("GET", "/x", nil)
	for k, vs := range fields {
		req.Header[k] = vs
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w, s, reasons
}

func bearer(tok string) http.Header { return http.Header{"Authorization": {"Bearer " + tok}} }
