package middleware_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sluicehq/sluice/internal/jwktest"
	"github.com/sluicehq/sluice/middleware"
)

// jwksClock is a settable clock that counts its readings.
type jwksClock struct {
	mu    sync.Mutex
	t     time.Time
	reads atomic.Int64
}

func (c *jwksClock) now() time.Time {
	c.reads.Add(1)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *jwksClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func ecKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// jwksCase is a verifier over a JWKS served by a jwktest.Server, on a jwksClock
// the test moves, reporting every fetch's result.
type jwksCase struct {
	srv     *jwktest.Server
	clk     *jwksClock
	jwks    *middleware.JWKS
	v       *middleware.JWTVerifier
	results chan string
}

func newJWKSCase(t *testing.T, s middleware.JWKSSettings, cacheSize int) *jwksCase {
	t.Helper()
	c := &jwksCase{srv: jwktest.NewServer(t), clk: &jwksClock{t: t0}, results: make(chan string, 4096)}
	s.URL, s.Now = c.srv.URL, c.clk.now
	if s.Algorithms == nil {
		s.Algorithms = []string{"ES256"}
	}
	var err error
	if c.jwks, err = middleware.NewJWKS(s); err != nil {
		t.Fatal(err)
	}
	c.jwks.Observe(func(result string, _ error) { c.results <- result })
	c.v, err = middleware.NewJWTVerifier(middleware.JWTSettings{Issuer: "https://id.example", Audiences: []string{"api"},
		Algorithms: s.Algorithms, JWKS: c.jwks, Leeway: 30 * time.Second, Now: c.clk.now, CacheSize: cacheSize})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// result waits for the next fetch's result.
func (c *jwksCase) result(t *testing.T) string {
	t.Helper()
	select {
	case r := <-c.results:
		return r
	case <-time.After(30 * time.Second):
		t.Fatal("no fetch ended within 30 s")
		return ""
	}
}

// check verifies a token and compares the reason it failed with want
// (empty: accepted).
func (c *jwksCase) check(t *testing.T, what, tok, want string) {
	t.Helper()
	_, err := c.v.Verify(tok)
	var got string
	if err != nil {
		var ae *middleware.AuthError
		if !errors.As(err, &ae) {
			t.Fatalf("%s: error %v is no AuthError", what, err)
		}
		got = ae.Reason
	}
	if got != want {
		t.Fatalf("%s: reason %q (%v), want %q", what, got, err, want)
	}
}

func es256(t testing.TB, k *ecdsa.PrivateKey, kid string) string {
	return sign(t, jwt.SigningMethodES256, k, kid, claims(map[string]any{"aud": "api"}))
}

// TestJWKSRefreshWhenStale: a set older than the refresh interval is used
// as it is for the request that finds it so, and refreshed meanwhile; the
// next requests see the new set, and a key it dropped stops verifying.
func TestJWKSRefreshWhenStale(t *testing.T) {
	c := newJWKSCase(t, middleware.JWKSSettings{RefreshInterval: 5 * time.Minute, MinRefreshInterval: 30 * time.Second}, 0)
	a, b := ecKey(t), ecKey(t)
	c.srv.Publish(jwktest.Key(&a.PublicKey, "a", "ES256"))
	tokA := es256(t, a, "a") // the same token throughout: ECDSA signatures differ each time
	c.check(t, "first token", tokA, "")
	if r := c.result(t); r != middleware.JWKSLoaded {
		t.Fatalf("first fetch %s", r)
	}
	c.clk.advance(4 * time.Minute)
	c.check(t, "within the interval", tokA, "")
	if n := c.srv.Fetches(); n != 1 {
		t.Fatalf("%d fetches within the interval, want 1", n)
	}
	// The issuer rotates: b replaces a. Once the interval has passed, the
	// request that notices is served with the old set while it refreshes.
	c.srv.Publish(jwktest.Key(&b.PublicKey, "b", "ES256"))
	c.clk.advance(2 * time.Minute)
	c.check(t, "stale set, a (cached)", tokA, "")
	if r := c.result(t); r != middleware.JWKSLoaded {
		t.Fatalf("refresh %s", r)
	}
	c.check(t, "after the refresh, b", es256(t, b, "b"), "")
	// a's token was cached; the cache is per key set, so it is checked
	// again, and a is gone (its refresh is rate-limited: no fetch).
	c.check(t, "after the refresh, a", tokA, middleware.ReasonUnknownKey)
	if n := c.srv.Fetches(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	// The same document again keeps the same set: nothing to re-verify.
	c.clk.advance(6 * time.Minute)
	c.check(t, "b again", es256(t, b, "b"), "")
	if r := c.result(t); r != middleware.JWKSUnchanged {
		t.Fatalf("refresh of the same set: %s", r)
	}
}

// TestJWKSUnknownKidRefresh: a kid the set lacks refreshes it at once (a
// token signed with a key published after the last fetch is accepted
// without waiting for the interval), at most once per MinRefreshInterval.
func TestJWKSUnknownKidRefresh(t *testing.T) {
	c := newJWKSCase(t, middleware.JWKSSettings{RefreshInterval: time.Hour, MinRefreshInterval: 30 * time.Second}, 0)
	a, b, never := ecKey(t), ecKey(t), ecKey(t)
	c.srv.Publish(jwktest.Key(&a.PublicKey, "a", ""))
	c.check(t, "a", es256(t, a, "a"), "")
	c.srv.Publish(jwktest.Key(&a.PublicKey, "a", ""), jwktest.Key(&b.PublicKey, "b", ""))
	// Just fetched: the rate limit holds the refresh back.
	c.check(t, "b too soon", es256(t, b, "b"), middleware.ReasonUnknownKey)
	if n := c.srv.Fetches(); n != 1 {
		t.Fatalf("%d fetches, want 1: the refresh was not rate-limited", n)
	}
	c.clk.advance(30 * time.Second)
	c.check(t, "b after the minimum interval", es256(t, b, "b"), "")
	if n := c.srv.Fetches(); n != 2 {
		t.Fatalf("%d fetches, want 2", n)
	}
	// A kid never published: one fetch per minimum interval, however many
	// tokens carry it.
	for i := range 100 {
		c.check(t, "never published", es256(t, never, "x"), middleware.ReasonUnknownKey)
		if i == 0 {
			c.clk.advance(30 * time.Second)
		}
	}
	if n := c.srv.Fetches(); n != 3 {
		t.Fatalf("%d fetches after 100 tokens with an unknown kid, want 3", n)
	}
	// A token without a kid, or with one that is no string, never asks
	// for a refresh.
	c.clk.advance(time.Minute)
	c.check(t, "no kid, key unknown", es256(t, never, ""), middleware.ReasonSignature)
	numeric := jwt.NewWithClaims(jwt.SigningMethodES256, claims(map[string]any{"aud": "api"}))
	numeric.Header["kid"] = 7
	tok, err := numeric.SignedString(never)
	if err != nil {
		t.Fatal(err)
	}
	c.check(t, "kid not a string", tok, middleware.ReasonUnknownKey)
	if n := c.srv.Fetches(); n != 3 {
		t.Fatalf("%d fetches, want 3: a token without a string kid fetched", n)
	}
}

// TestJWKSSingleFlight: 1,000 concurrent requests that all need a fetch
// (no set yet, an unknown kid) share one, and all are accepted.
func TestJWKSSingleFlight(t *testing.T) {
	const n = 1000
	c := newJWKSCase(t, middleware.JWKSSettings{}, -1)
	a := ecKey(t)
	c.srv.Publish(jwktest.Key(&a.PublicKey, "a", "ES256"))
	release := c.srv.Hold()
	defer release()
	tok := es256(t, a, "a")
	// The answer is held until every request has read the clock, which
	// each does on entering the JWKS, before joining or starting a fetch.
	base := c.clk.reads.Load()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range n {
		wg.Go(func() {
			if _, err := c.v.Verify(tok); err != nil {
				failed.Add(1)
			}
		})
	}
	select {
	case <-c.srv.Arrived():
	case <-time.After(30 * time.Second):
		t.Fatal("no fetch arrived")
	}
	deadline := time.Now().Add(30 * time.Second)
	for c.clk.reads.Load()-base < n {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d requests reached the JWKS", c.clk.reads.Load()-base, n)
		}
		time.Sleep(time.Millisecond) // polling a condition, not waiting for time
	}
	release()
	wg.Wait()
	if f := failed.Load(); f != 0 {
		t.Errorf("%d of %d requests failed", f, n)
	}
	if f := c.srv.Fetches(); f != 1 {
		t.Errorf("%d fetches for %d concurrent requests, want 1", f, n)
	}
}

// TestJWKSEndpointDownKeepsKeys: when the endpoint fails (an error status,
// no listener, no answer within the timeout) the set held keeps serving,
// and the next attempt waits for the minimum interval.
func TestJWKSEndpointDownKeepsKeys(t *testing.T) {
	c := newJWKSCase(t, middleware.JWKSSettings{RefreshInterval: time.Minute, MinRefreshInterval: 10 * time.Second,
		Timeout: 500 * time.Millisecond}, -1)
	a := ecKey(t)
	c.srv.Publish(jwktest.Key(&a.PublicKey, "a", "ES256"))
	tok := es256(t, a, "a")
	c.check(t, "a", tok, "")
	c.result(t)

	c.srv.Serve(http.StatusInternalServerError, []byte("down"))
	c.clk.advance(2 * time.Minute)
	c.check(t, "stale, endpoint failing", tok, "")
	if r := c.result(t); r != middleware.JWKSFailed {
		t.Fatalf("refresh against a 500: %s", r)
	}
	c.check(t, "after the failed refresh", tok, "")
	if n := c.srv.Fetches(); n != 2 {
		t.Fatalf("%d fetches, want 2: a failed refresh was retried before the minimum interval", n)
	}

	// No answer at all: the fetch times out, and the keys stay.
	release := c.srv.Hold()
	defer release()
	c.srv.Publish(jwktest.Key(&a.PublicKey, "a", "ES256"))
	c.clk.advance(10 * time.Second)
	c.check(t, "stale, endpoint hanging", tok, "")
	if r := c.result(t); r != middleware.JWKSFailed {
		t.Fatalf("refresh against a hung endpoint: %s", r)
	}
	c.check(t, "after the timeout", tok, "")
	release()

	// Back: the next refresh loads again.
	c.clk.advance(10 * time.Second)
	c.check(t, "endpoint back", tok, "")
	if r := c.result(t); r != middleware.JWKSUnchanged {
		t.Fatalf("refresh after the endpoint came back: %s", r)
	}
}

// TestJWKSNeverLoaded: with no set ever fetched, a token is answered with
// ErrKeysUnavailable (503 at the gateway), not as a bad token; the first
// good fetch ends that.
func TestJWKSNeverLoaded(t *testing.T) {
	c := newJWKSCase(t, middleware.JWKSSettings{MinRefreshInterval: 10 * time.Second}, 0)
	a := ecKey(t)
	c.srv.Serve(http.StatusServiceUnavailable, nil)
	tok := es256(t, a, "a")
	w, s, _ := serveAuth(c.v, bearer(tok))
	if w.Code != http.StatusServiceUnavailable || s.called || w.Header().Get("Retry-After") == "" ||
		!strings.Contains(w.Body.String(), "keys-unavailable") {
		t.Fatalf("answer %d %q (Retry-After %q), want 503 keys-unavailable", w.Code, w.Body, w.Header().Get("Retry-After"))
	}
	if c.jwks.Ready() {
		t.Fatal("ready with no keys")
	}
	c.srv.Publish(jwktest.Key(&a.PublicKey, "a", "ES256"))
	c.check(t, "within the minimum interval", tok, middleware.ReasonKeysUnavailable)
	c.clk.advance(10 * time.Second)
	c.jwks.Prefetch()
	for c.result(t) != middleware.JWKSLoaded {
	}
	if !c.jwks.Ready() {
		t.Fatal("not ready after a load")
	}
	c.check(t, "loaded", tok, "")
}

// TestJWKSBadSetsAreRefused: a document that is no usable JWK Set never
// replaces the set held, and keys a JWKS must not supply are never used.
func TestJWKSBadSetsAreRefused(t *testing.T) {
	a, b := ecKey(t), ecKey(t)
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	good := jwktest.Key(&a.PublicKey, "a", "ES256")
	tests := []struct {
		name   string
		status int
		doc    []byte
		result string
	}{
		{"not JSON", 200, []byte("<html>"), middleware.JWKSRefused},
		{"no keys member", 200, []byte(`{"kty":"EC"}`), middleware.JWKSRefused},
		{"empty set", 200, jwktest.Set(), middleware.JWKSRefused},
		{"only an HMAC key", 200, jwktest.Set(jwktest.Key([]byte(strings.Repeat("k", 32)), "b", "")), middleware.JWKSRefused},
		{"only an encryption key", 200, []byte(`{"keys":[` + strings.Replace(string(mustJSON(jwktest.Key(&b.PublicKey, "b", ""))), `"use":"sig"`, `"use":"enc"`, 1) + `]}`), middleware.JWKSRefused},
		{"only a 1024-bit RSA key", 200, jwktest.Set(jwktest.Key(&small.PublicKey, "b", "RS256")), middleware.JWKSRefused},
		{"only a key for another algorithm", 200, jwktest.Set(jwktest.Key(&b.PublicKey, "b", "ES384")), middleware.JWKSRefused},
		{"a key the provider's algorithms do not use", 200, jwktest.Set(jwktest.Key(&testKeys().rsa.PublicKey, "b", "RS256")), middleware.JWKSRefused},
		{"a point off the curve", 200, []byte(`{"keys":[{"kty":"EC","crv":"P-256","kid":"b","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE"}]}`), middleware.JWKSRefused},
		{"too large", 200, append(append([]byte(`{"keys":[`), mustJSON(good)...), []byte(`],"pad":"`+strings.Repeat("x", middleware.MaxJWKSBytes)+`"}`)...), middleware.JWKSRefused},
		{"not found", 404, jwktest.Set(good), middleware.JWKSFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newJWKSCase(t, middleware.JWKSSettings{MinRefreshInterval: time.Second}, -1)
			c.srv.Publish(good)
			tok := es256(t, a, "a")
			c.check(t, "good set", tok, "")
			c.result(t)
			c.srv.Serve(tt.status, tt.doc)
			c.clk.advance(time.Second)
			if err := c.jwks.Refresh(context.Background()); err == nil {
				t.Fatal("Refresh took the bad set")
			}
			if r := c.result(t); r != tt.result {
				t.Fatalf("result %s, want %s", r, tt.result)
			}
			c.check(t, "after the bad set", tok, "")
			c.check(t, "b", es256(t, b, "b"), middleware.ReasonUnknownKey)
		})
	}
}

// TestJWKSKeyUseAndAlg: within a good set, keys not for signatures, with an
// alg their type cannot do, or symmetric, are left out; a key's alg binds
// it.
func TestJWKSKeyUseAndAlg(t *testing.T) {
	a, enc, bound := ecKey(t), ecKey(t), ecKey(t)
	c := newJWKSCase(t, middleware.JWKSSettings{Algorithms: []string{"ES256", "RS256"}}, -1)
	encKey := jwktest.Key(&enc.PublicKey, "enc", "")
	encKey["use"] = "enc"
	verifyOnly := jwktest.Key(&bound.PublicKey, "ops", "")
	verifyOnly["key_ops"] = []string{"encrypt"}
	rsaForES := jwktest.Key(&testKeys().rsa.PublicKey, "r", "ES256") // an alg the key's type cannot do
	c.srv.Publish(jwktest.Key(&a.PublicKey, "a", ""), encKey, verifyOnly, rsaForES,
		jwktest.Key([]byte(strings.Repeat("k", 32)), "h", "HS256"),
		jwktest.Key(&testKeys().rsa.PublicKey, "rs", "RS256"))
	c.check(t, "a", es256(t, a, "a"), "")
	c.check(t, "encryption key", es256(t, enc, "enc"), middleware.ReasonUnknownKey)
	c.check(t, "key_ops without verify", es256(t, bound, "ops"), middleware.ReasonUnknownKey)
	c.check(t, "RSA key published for ES256", sign(t, jwt.SigningMethodRS256, testKeys().rsa, "r", claims(map[string]any{"aud": "api"})), middleware.ReasonUnknownKey)
	c.check(t, "RSA key bound to RS256, used for RS256", sign(t, jwt.SigningMethodRS256, testKeys().rsa, "rs", claims(map[string]any{"aud": "api"})), "")
	c.check(t, "RSA key bound to RS256, used for PS256 (not allowed anyway)", sign(t, jwt.SigningMethodPS256, testKeys().rsa, "rs", claims(map[string]any{"aud": "api"})), middleware.ReasonAlgorithm)
	c.check(t, "HS256 with the published oct key", sign(t, jwt.SigningMethodHS256, []byte(strings.Repeat("k", 32)), "h", claims(map[string]any{"aud": "api"})), middleware.ReasonAlgorithm)
}

// TestJWKSAlgBindsKey: an RSA key published with alg RS256 does not verify
// PS256 tokens even where the provider allows both.
func TestJWKSAlgBindsKey(t *testing.T) {
	c := newJWKSCase(t, middleware.JWKSSettings{Algorithms: []string{"RS256", "PS256"}}, -1)
	c.srv.Publish(jwktest.Key(&testKeys().rsa.PublicKey, "rs", "RS256"))
	c.check(t, "RS256", sign(t, jwt.SigningMethodRS256, testKeys().rsa, "rs", claims(map[string]any{"aud": "api"})), "")
	c.check(t, "PS256", sign(t, jwt.SigningMethodPS256, testKeys().rsa, "rs", claims(map[string]any{"aud": "api"})), middleware.ReasonAlgorithm)
}

// TestNewJWKSRefusesBadSettings: plain http only to loopback, no HMAC
// algorithm, no negative durations.
func TestNewJWKSRefusesBadSettings(t *testing.T) {
	for _, tt := range []struct {
		url  string
		algs []string
		ok   bool
	}{
		{"https://id.example/jwks", []string{"RS256"}, true},
		{"http://127.0.0.1:8080/jwks", []string{"RS256"}, true},
		{"http://localhost/jwks", []string{"RS256"}, true},
		{"http://[::1]/jwks", []string{"RS256"}, true},
		{"http://id.example/jwks", []string{"RS256"}, false},
		{"http://10.0.0.1/jwks", []string{"RS256"}, false},
		{"ftp://id.example/jwks", []string{"RS256"}, false},
		{"/jwks", []string{"RS256"}, false},
		{"https://id.example/jwks", []string{"HS256"}, false},
		{"https://id.example/jwks", nil, false},
	} {
		_, err := middleware.NewJWKS(middleware.JWKSSettings{URL: tt.url, Algorithms: tt.algs})
		if (err == nil) != tt.ok {
			t.Errorf("%s %v: error %v, want ok %v", tt.url, tt.algs, err, tt.ok)
		}
	}
	if _, err := middleware.NewJWKS(middleware.JWKSSettings{URL: "https://id.example/", Algorithms: []string{"RS256"}, Timeout: -1}); err == nil {
		t.Error("a negative timeout was taken")
	}
}

// TestJWKSAdopt: a JWKS built by a reload for the same URL and algorithms
// takes the keys of the one it replaces, without fetching.
func TestJWKSAdopt(t *testing.T) {
	c := newJWKSCase(t, middleware.JWKSSettings{}, -1)
	a := ecKey(t)
	c.srv.Publish(jwktest.Key(&a.PublicKey, "a", "ES256"))
	if err := c.jwks.Refresh(context.Background()); err != nil {
		t.Fatal(err)
	}
	next, err := middleware.NewJWKS(middleware.JWKSSettings{URL: c.srv.URL, Algorithms: []string{"ES256"}, Now: c.clk.now})
	if err != nil {
		t.Fatal(err)
	}
	other, _ := middleware.NewJWKS(middleware.JWKSSettings{URL: c.srv.URL + "?v=2", Algorithms: []string{"ES256"}})
	if other.Adopt(c.jwks) {
		t.Error("adopted the keys of another URL")
	}
	if !next.Adopt(c.jwks) || !next.Ready() {
		t.Fatal("did not adopt")
	}
	v, err := middleware.NewJWTVerifier(middleware.JWTSettings{Algorithms: []string{"ES256"}, JWKS: next, Now: c.clk.now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.Verify(es256(t, a, "a")); err != nil {
		t.Fatal(err)
	}
	if n := c.srv.Fetches(); n != 1 {
		t.Errorf("%d fetches, want 1", n)
	}
}

func mustJSON(v map[string]any) []byte {
	b := jwktest.Set(v)
	// Set wraps in {"keys":[...]}: take the member back out.
	return b[len(`{"keys":[`) : len(b)-2]
}

// TestJWKSOverTLS: an https JWKS is verified against RootCAs (a private CA's
// server is refused without them), and a redirect is not followed.
func TestJWKSOverTLS(t *testing.T) {
	a := ecKey(t)
	set := jwktest.Set(jwktest.Key(&a.PublicKey, "a", "ES256"))
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/moved" {
			http.Redirect(w, r, "/jwks", http.StatusFound)
			return
		}
		_, _ = w.Write(set)
	}))
	t.Cleanup(srv.Close)
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate())
	for _, tt := range []struct {
		name string
		path string
		ca   *x509.CertPool
		ok   bool
	}{
		{"trusted CA", "/jwks", pool, true},
		{"system roots only", "/jwks", nil, false},
		{"redirect", "/moved", pool, false},
	} {
		k, err := middleware.NewJWKS(middleware.JWKSSettings{URL: srv.URL + tt.path, Algorithms: []string{"ES256"}, RootCAs: tt.ca})
		if err != nil {
			t.Fatal(err)
		}
		var result string
		k.Observe(func(r string, _ error) { result = r })
		err = k.Refresh(context.Background())
		if (err == nil) != tt.ok || k.Ready() != tt.ok {
			t.Errorf("%s: Refresh = %v, ready %v, want ok %v", tt.name, err, k.Ready(), tt.ok)
		}
		if want := map[bool]string{true: middleware.JWKSLoaded, false: middleware.JWKSFailed}[tt.ok]; result != want {
			t.Errorf("%s: result %s, want %s", tt.name, result, want)
		}
	}
}
