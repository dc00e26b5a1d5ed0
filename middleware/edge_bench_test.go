package middleware_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sluicehq/sluice/middleware"
)

// BenchmarkJWT measures Authenticate on a valid token: parse, verify,
// check the claims, forward sub and email, the identity into the context.
func BenchmarkJWT(b *testing.B) {
	k := testKeys()
	cases := []struct {
		alg    string
		method jwt.SigningMethod
		sign   any
		key    any
	}{
		{"HS256", jwt.SigningMethodHS256, hmacSecret, hmacSecret},
		{"ES256", jwt.SigningMethodES256, k.ec, &k.ec.PublicKey},
		{"RS256", jwt.SigningMethodRS256, k.rsa, &k.rsa.PublicKey},
		{"EdDSA", jwt.SigningMethodEdDSA, k.ed, k.ed.Public()},
	}
	for _, c := range cases {
		for _, cache := range []struct {
			name string
			size int
		}{{"uncached", -1}, {"cached", 0}} {
			b.Run(c.alg+"/"+cache.name, func(b *testing.B) {
				benchJWT(b, c.alg, c.method, c.sign, c.key, cache.size)
			})
		}
	}
}

// benchJWT measures Authenticate over one token, verified each time or
// found in the verifier's cache.
func benchJWT(b *testing.B, alg string, method jwt.SigningMethod, signKey, key any, cacheSize int) {
	v, err := middleware.NewJWTVerifier(middleware.JWTSettings{
		Issuer: "https://id.example", Audiences: []string{"api"}, Algorithms: []string{alg},
		Keys: []middleware.JWTKey{{ID: "k1", Key: key}}, Leeway: 30 * time.Second, Now: fixedNow,
		ForwardClaims: map[string]string{"sub": "X-Sluice-Subject"}, CacheSize: cacheSize,
	})
	if err != nil {
		b.Fatal(err)
	}
	field := []string{"Bearer " + sign(b, method, signKey, "k1", claims(nil))}
	h := v.Authenticate(nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/x", nil)
	b.ReportAllocs()
	for b.Loop() {
		r.Header["Authorization"] = field // removed by each pass
		h.ServeHTTP(w, r)
	}
	if w.Code != http.StatusOK {
		b.Fatalf("status %d: %s", w.Code, w.Body)
	}
}

// BenchmarkRateLimit measures the allowed path of the rate-limit
// middleware keyed by client address: one hot client, and 10 000 clients
// in turn (each bucket found in the table).
func BenchmarkRateLimit(b *testing.B) {
	run := func(b *testing.B, remotes []string) {
		lim, err := middleware.NewRateLimiter(middleware.RateLimitSettings{RPS: 1e9, Burst: 1 << 20})
		if err != nil {
			b.Fatal(err)
		}
		key, _ := middleware.ParseRateLimitKey("ip", nil)
		refused := 0
		h := lim.Middleware(middleware.RateLimitPolicy{Key: key, OnLimited: func() { refused++ }})(
			http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		// One writer for every call: the limiter sets its RateLimit
		// fields on the answer's header, the same keys each time.
		w := httptest.NewRecorder()
		reqs := make([]*http.Request, len(remotes))
		for i, remote := range remotes {
			reqs[i] = httptest.NewRequest("GET", "/x", nil)
			reqs[i].RemoteAddr = remote
			h.ServeHTTP(w, reqs[i]) // creates the bucket
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			h.ServeHTTP(w, reqs[i])
			if i++; i == len(reqs) {
				i = 0
			}
		}
		if refused != 0 {
			b.Fatalf("%d refused", refused)
		}
	}
	b.Run("allow", func(b *testing.B) { run(b, []string{"192.0.2.1:40000"}) })
	b.Run("allow-ipv6", func(b *testing.B) { run(b, []string{"[2001:db8::1]:40000"}) })
	b.Run("many-keys", func(b *testing.B) {
		remotes := make([]string, 10_000)
		for i := range remotes {
			remotes[i] = "10.0." + strconv.Itoa(i/256) + "." + strconv.Itoa(i%256) + ":40000"
		}
		run(b, remotes)
	})
}

// BenchmarkIdentityHeaders measures the removal of forgeable identity
// headers, which runs first on every route, over a browser-like request
// with nothing to remove.
func BenchmarkIdentityHeaders(b *testing.B) {
	h := middleware.IdentityHeaders([]string{"X-Sluice-Subject", "X-Sluice-Email"}, nil)(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	r := httptest.NewRequest("GET", "/x", nil)
	r.RemoteAddr = "192.0.2.1:5000"
	for _, f := range []string{"Accept", "Accept-Encoding", "Accept-Language", "User-Agent", "Cookie", "Referer",
		"Sec-Fetch-Mode", "Sec-Fetch-Site", "Cache-Control", "Authorization"} {
		r.Header.Set(f, "x")
	}
	w := httptest.NewRecorder()
	b.ReportAllocs()
	for b.Loop() {
		h.ServeHTTP(w, r)
	}
}
