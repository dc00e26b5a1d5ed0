package middleware_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sluicehq/sluice/internal/jwktest"
	"github.com/sluicehq/sluice/middleware"
)

// auditJWKS returns a JWKS of url and a channel told each fetch's result.
func auditJWKS(t *testing.T, url string) (*middleware.JWKS, chan string) {
	t.Helper()
	k, err := middleware.NewJWKS(middleware.JWKSSettings{URL: url, Algorithms: []string{"ES256"}})
	if err != nil {
		t.Fatal(err)
	}
	results := make(chan string, 16)
	k.Observe(func(r string, _ error) { results <- r })
	return k, results
}

// TestJWKSRefusesTooManyKeys: a set holding more than MaxJWKSKeys keys is
// refused, and the set held keeps serving: every key would otherwise be
// tried against each token without a kid, so a server publishing thousands
// would let any client spend the gateway's CPU with made-up tokens.
func TestJWKSRefusesTooManyKeys(t *testing.T) {
	a := ecKey(t)
	good := jwktest.Set(jwktest.Key(&a.PublicKey, "a", "ES256"))
	keys := []map[string]any{jwktest.Key(&a.PublicKey, "a", "ES256")}
	for range middleware.MaxJWKSKeys {
		k := ecKey(t)
		keys = append(keys, jwktest.Key(&k.PublicKey, "", "ES256"))
	}
	many := jwktest.Set(keys...)
	var doc atomic.Pointer[[]byte]
	doc.Store(&good)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write(*doc.Load()) }))
	defer srv.Close()
	k, results := auditJWKS(t, srv.URL)
	if err := k.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	<-results
	doc.Store(&many)
	if err := k.Refresh(context.Background()); err == nil {
		t.Fatalf("a set of %d keys was taken", len(keys))
	}
	if r := <-results; r != middleware.JWKSRefused {
		t.Fatalf("result %s, want %s", r, middleware.JWKSRefused)
	}
	if !k.Ready() {
		t.Fatal("the good set was dropped")
	}
}

// TestJWKSBoundsTheResponseHeader: an answer whose header alone is larger
// than the document may be fails the fetch, instead of being read whole
// (net/http's default bound is 10 MiB).
func TestJWKSBoundsTheResponseHeader(t *testing.T) {
	a := ecKey(t)
	good := jwktest.Set(jwktest.Key(&a.PublicKey, "a", "ES256"))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		for i := range 32 { // 2 MiB: over the bound, under net/http's default
			w.Header().Set("X-Pad-"+string(rune('a'+i)), strings.Repeat("x", 64<<10))
		}
		_, _ = w.Write(good)
	}))
	defer srv.Close()
	k, results := auditJWKS(t, srv.URL)
	if err := k.Refresh(context.Background()); err == nil {
		t.Fatal("an answer with a 2 MiB header was taken")
	}
	if r := <-results; r != middleware.JWKSFailed {
		t.Fatalf("result %s, want %s", r, middleware.JWKSFailed)
	}
}

// TestJWKSAdoptTakesTheKeysThatFitOtherAlgorithms: a source of the same URL
// with other algorithms adopts the keys of the document already fetched
// that fit its own, without a fetch: an EdDSA key published beside an
// ES256 one verifies once EdDSA is added, and the ES256 key stops
// verifying once ES256 is removed.
func TestJWKSAdoptTakesTheKeysThatFitOtherAlgorithms(t *testing.T) {
	c := newJWKSCase(t, middleware.JWKSSettings{}, -1)
	a := ecKey(t)
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c.srv.Publish(jwktest.Key(&a.PublicKey, "a", "ES256"), jwktest.Key(pub, "e", ""))
	if err := c.jwks.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	verifier := func(algs ...string) *middleware.JWTVerifier {
		next, err := middleware.NewJWKS(middleware.JWKSSettings{URL: c.srv.URL, Algorithms: algs, Now: c.clk.now})
		if err != nil {
			t.Fatal(err)
		}
		if !next.Adopt(c.jwks) {
			t.Fatalf("a source for %v did not adopt", algs)
		}
		v, err := middleware.NewJWTVerifier(middleware.JWTSettings{Algorithms: algs, JWKS: next, Now: c.clk.now, CacheSize: -1})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	ed := sign(t, jwt.SigningMethodEdDSA, priv, "e", claims(map[string]any{"aud": "api"}))
	both := verifier("ES256", "EdDSA")
	if _, err := both.Verify(es256(t, a, "a")); err != nil {
		t.Errorf("ES256 token, ES256 and EdDSA adopted: %v", err)
	}
	if _, err := both.Verify(ed); err != nil {
		t.Errorf("EdDSA token, ES256 and EdDSA adopted: %v", err)
	}
	onlyEd := verifier("EdDSA")
	if _, err := onlyEd.Verify(es256(t, a, "a")); err == nil {
		t.Error("an ES256 token verified with EdDSA alone adopted")
	}
	if _, err := onlyEd.Verify(ed); err != nil {
		t.Errorf("EdDSA token, EdDSA adopted: %v", err)
	}
	if n := c.srv.Fetches(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
}
