package middleware_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/middleware"
)

// clock is a settable time for the limiter.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// limited builds a limiter on c and a handler behind its middleware that
// counts the requests let through.
type limited struct {
	lim     *middleware.RateLimiter
	h       http.Handler
	passed  int
	refused int
	slept   []time.Duration
}

func newLimited(t *testing.T, c *clock, s middleware.RateLimitSettings, p middleware.RateLimitPolicy) *limited {
	t.Helper()
	s.Now = c.now
	lim, err := middleware.NewRateLimiter(s)
	if err != nil {
		t.Fatal(err)
	}
	l := &limited{lim: lim}
	p.OnLimited = func() { l.refused++ }
	if p.Sleep == nil {
		p.Sleep = func(_ context.Context, d time.Duration) error { l.slept = append(l.slept, d); return nil }
	}
	l.h = lim.Middleware(p)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { l.passed++ }))
	return l
}

// do sends one request from remote with the given header fields, inside a
// Recorder that says it arrived at arrival.
func (l *limited) do(remote string, arrival time.Time, fields ...string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "/x", nil)
	r.RemoteAddr = remote
	for i := 0; i+1 < len(fields); i += 2 {
		r.Header.Set(fields[i], fields[i+1])
	}
	w := httptest.NewRecorder()
	l.h.ServeHTTP(middleware.NewRecorder(w, arrival), r)
	return w
}

func wantTooMany(t *testing.T, w *httptest.ResponseRecorder, retryAfter string) {
	t.Helper()
	if w.Code != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429", w.Code)
	}
	if got := w.Header().Get("Retry-After"); got != retryAfter {
		t.Errorf("Retry-After %q, want %q", got, retryAfter)
	}
	var p struct{ Type string }
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || p.Type != problem.TypeRateLimited ||
		w.Header().Get("Content-Type") != problem.ContentType {
		t.Errorf("body %s (%v), Content-Type %q", w.Body, err, w.Header().Get("Content-Type"))
	}
}

func ipKey(t *testing.T, s string, proxies *middleware.TrustedProxies) middleware.RateLimitKey {
	t.Helper()
	k, err := middleware.ParseRateLimitKey(s, proxies)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestRateLimitBurstThen429(t *testing.T) {
	c := &clock{t0}
	l := newLimited(t, c, middleware.RateLimitSettings{RPS: 2, Burst: 3}, middleware.RateLimitPolicy{Key: ipKey(t, "ip", nil)})
	for i := range 3 {
		if w := l.do("192.0.2.1:1000", c.t); w.Code != http.StatusOK {
			t.Fatalf("request %d of the burst: %d", i, w.Code)
		}
	}
	wantTooMany(t, l.do("192.0.2.1:1001", c.t), "1") // 0.5 s to the next token, rounded up
	// Another client has a bucket of its own.
	if w := l.do("192.0.2.2:1000", c.t); w.Code != http.StatusOK {
		t.Fatalf("another client: %d", w.Code)
	}
	c.t = c.t.Add(500 * time.Millisecond)
	if w := l.do("192.0.2.1:1000", c.t); w.Code != http.StatusOK {
		t.Fatalf("after refilling one token: %d", w.Code)
	}
	wantTooMany(t, l.do("192.0.2.1:1000", c.t), "1")
	if l.passed != 5 || l.refused != 2 {
		t.Errorf("passed %d, refused %d; want 5, 2", l.passed, l.refused)
	}
}

func TestRateLimitRetryAfterRoundsUp(t *testing.T) {
	c := &clock{t0}
	l := newLimited(t, c, middleware.RateLimitSettings{RPS: 0.4, Burst: 1}, middleware.RateLimitPolicy{})
	l.do("192.0.2.1:1", c.t)
	wantTooMany(t, l.do("192.0.2.1:1", c.t), "3") // 2.5 s
	c.t = c.t.Add(2 * time.Second)
	wantTooMany(t, l.do("192.0.2.1:1", c.t), "1") // 0.5 s
}

func TestRateLimitKeys(t *testing.T) {
	c := &clock{t0}
	s := middleware.RateLimitSettings{RPS: 1, Burst: 1}

	hdr := newLimited(t, c, s, middleware.RateLimitPolicy{Key: ipKey(t, "header:x-api-key", nil)})
	hdr.do("192.0.2.1:1", c.t, "X-Api-Key", "k1")
	wantTooMany(t, hdr.do("192.0.2.9:1", c.t, "X-Api-Key", "k1"), "1") // same key, another address
	if w := hdr.do("192.0.2.1:1", c.t, "X-Api-Key", "k2"); w.Code != 200 {
		t.Errorf("another API key: %d", w.Code)
	}
	if w := hdr.do("192.0.2.1:1", c.t); w.Code != 200 {
		t.Errorf("no API key: keyed by address, a bucket apart from the API keys: %d", w.Code)
	}
	wantTooMany(t, hdr.do("192.0.2.1:2", c.t), "1")
	long := string(make([]byte, 1000))
	if w := hdr.do("192.0.2.1:1", c.t, "X-Api-Key", "x"+long[1:]); w.Code != 200 {
		t.Errorf("a long key: %d", w.Code)
	}

	ip6 := newLimited(t, c, s, middleware.RateLimitPolicy{})
	ip6.do("[2001:db8:1:2::1]:1", c.t)
	wantTooMany(t, ip6.do("[2001:db8:1:2:ffff::9]:1", c.t), "1") // the same /64
	if w := ip6.do("[2001:db8:1:3::1]:1", c.t); w.Code != 200 {
		t.Errorf("another /64: %d", w.Code)
	}

	sub := newLimited(t, c, s, middleware.RateLimitPolicy{Key: ipKey(t, "subject", nil)})
	v := provider(t, []string{"HS256"}, middleware.JWTKey{Key: hmacSecret})
	h := v.Authenticate(nil)(sub.h)
	for i, want := range []int{200, 429} {
		r := httptest.NewRequest("GET", "/x", nil)
		r.RemoteAddr = fmt.Sprintf("192.0.2.%d:1", i+1) // the subject, not the address, is the key
		r.Header.Set("Authorization", "Bearer "+sign(t, jwt.SigningMethodHS256, hmacSecret, "", claims(nil)))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("subject request %d: %d, want %d", i, w.Code, want)
		}
	}

	for _, bad := range []string{"", "cookie", "header:", "header:A B"} {
		if _, err := middleware.ParseRateLimitKey(bad, nil); err == nil {
			t.Errorf("key %q parsed", bad)
		}
	}
}

func TestRateLimitMaxWaitBoundedByTheBudget(t *testing.T) {
	c := &clock{t0}
	s := middleware.RateLimitSettings{RPS: 10, Burst: 1} // a token every 100 ms
	policy := func(timeout time.Duration) middleware.RateLimitPolicy {
		return middleware.RateLimitPolicy{MaxWait: time.Second, Budget: budget.Policy{Timeout: timeout, Min: 5 * time.Millisecond}}
	}

	// Budget 500 ms: the second request waits its 100 ms, then goes on.
	l := newLimited(t, c, s, policy(500*time.Millisecond))
	l.do("192.0.2.1:1", c.t)
	if w := l.do("192.0.2.1:1", c.t); w.Code != 200 || len(l.slept) != 1 || l.slept[0] != 100*time.Millisecond {
		t.Fatalf("status %d after sleeping %v, want 200 after 100ms", w.Code, l.slept)
	}

	// Budget 100 ms: waiting 100 ms would leave less than the 5 ms minimum.
	l = newLimited(t, c, s, policy(100*time.Millisecond))
	l.do("192.0.2.1:1", c.t)
	wantTooMany(t, l.do("192.0.2.1:1", c.t), "1")
	// The client asked for less than the route's timeout.
	l = newLimited(t, c, s, policy(5*time.Second))
	l.do("192.0.2.1:1", c.t)
	wantTooMany(t, l.do("192.0.2.1:1", c.t, "Sluice-Budget", "ms=50"), "1")
	// The request arrived 450 ms ago: 50 ms of its 500 are left.
	l = newLimited(t, c, s, policy(500*time.Millisecond))
	l.do("192.0.2.1:1", c.t)
	wantTooMany(t, l.do("192.0.2.1:1", c.t.Add(-450*time.Millisecond)), "1")
	if len(l.slept) != 0 {
		t.Fatalf("slept %v for requests refused", l.slept)
	}
	// The refused requests gave their reservations back: 100 ms on, one
	// token is there.
	c.t = c.t.Add(100 * time.Millisecond)
	if w := l.do("192.0.2.1:1", c.t); w.Code != 200 || len(l.slept) != 0 {
		t.Fatalf("status %d, slept %v, want 200 at once", w.Code, l.slept)
	}

	// max_wait below what the budget allows bounds the wait.
	l = newLimited(t, c, s, middleware.RateLimitPolicy{MaxWait: 50 * time.Millisecond, Budget: budget.Policy{Timeout: 5 * time.Second}})
	l.do("192.0.2.1:1", c.t)
	wantTooMany(t, l.do("192.0.2.1:1", c.t), "1")

	// A client that leaves while it waits is not served.
	l = newLimited(t, c, s, middleware.RateLimitPolicy{MaxWait: time.Second, Budget: budget.Policy{Timeout: 5 * time.Second},
		Sleep: func(ctx context.Context, d time.Duration) error { return context.Canceled }})
	l.do("192.0.2.1:1", c.t)
	if w := l.do("192.0.2.1:1", c.t); l.passed != 1 || w.Body.Len() != 0 {
		t.Fatalf("passed %d, body %q", l.passed, w.Body)
	}
}

func TestNewRateLimiterRefusesBadSettings(t *testing.T) {
	for _, s := range []middleware.RateLimitSettings{{RPS: 0, Burst: 1}, {RPS: -1, Burst: 1}, {RPS: 1, Burst: 0}, {RPS: 1, Burst: 1, MaxKeys: -1}} {
		if _, err := middleware.NewRateLimiter(s); err == nil {
			t.Errorf("%+v accepted", s)
		}
	}
}
