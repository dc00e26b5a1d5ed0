package middleware_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sluicehq/sluice/internal/jwktest"
	"github.com/sluicehq/sluice/middleware"
)

// A verifier whose keys come from the issuer's JWK Set: the first token
// fetches it, later ones use it until it is stale or a kid is unknown.
func ExampleNewJWKS() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write(jwktest.Set(jwktest.Key(&key.PublicKey, "2026-03", "ES256")))
	}))
	defer idp.Close()

	keys, err := middleware.NewJWKS(middleware.JWKSSettings{URL: idp.URL + "/jwks.json", Algorithms: []string{"ES256"}})
	if err != nil {
		panic(err)
	}
	v, err := middleware.NewJWTVerifier(middleware.JWTSettings{Algorithms: []string{"ES256"}, JWKS: keys})
	if err != nil {
		panic(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"sub": "ada", "exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = "2026-03"
	signed, _ := tok.SignedString(key)

	id, err := v.Verify(signed)
	fmt.Println(id.Subject, err, keys.Ready())
	// Output: ada <nil> true
}

// What a backend receives when a client forges identity headers on a route
// (with or without auth): none of them.
func ExampleIdentityHeaders() {
	h := middleware.IdentityHeaders([]string{"X-Sluice-Subject"}, nil)(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		fmt.Printf("subject %q, real IP %q, forwarded for %q, accept %q\n", r.Header.Get("X-Sluice-Subject"),
			r.Header.Get("X-Real-Ip"), r.Header.Get("X-Forwarded-For"), r.Header.Get("Accept"))
	}))
	r := httptest.NewRequest("GET", "/orders", nil)
	r.Header.Set("X-Sluice-Subject", "admin")
	r.Header.Set("X-Real-Ip", "6.6.6.6")
	r.Header.Set("X-Forwarded-For", "6.6.6.6")
	r.Header.Set("Accept", "application/json")
	h.ServeHTTP(httptest.NewRecorder(), r)
	// Output: subject "", real IP "", forwarded for "", accept "application/json"
}
