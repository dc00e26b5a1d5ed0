package middleware_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice/middleware"
)

// TestLocalRateLimitFields: a per-replica limit's answers, 200 and 429,
// carry RateLimit-Policy and RateLimit as the draft writes them.
func TestLocalRateLimitFields(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l := newLimited(t, c, middleware.RateLimitSettings{RPS: 2, Burst: 3},
		middleware.RateLimitPolicy{Name: `search "v1"`, Key: ipKey(t, "ip", nil)})
	want := []struct {
		code  int
		limit string
	}{
		{200, `"search \"v1\"";r=2;t=1`}, // 1 token spent: back in 0.5 s, rounded up
		{200, `"search \"v1\"";r=1;t=1`},
		{200, `"search \"v1\"";r=0;t=2`},
		{429, `"search \"v1\"";r=0;t=2`},
	}
	for i, w := range want {
		rec := l.do("192.0.2.1:1", c.t)
		if rec.Code != w.code {
			t.Fatalf("request %d: status %d, want %d", i+1, rec.Code, w.code)
		}
		if got := rec.Header().Get("RateLimit-Policy"); got != `"search \"v1\"";q=3;w=2` {
			t.Errorf("request %d: RateLimit-Policy %q", i+1, got)
		}
		if got := rec.Header().Get("RateLimit"); got != w.limit {
			t.Errorf("request %d: RateLimit %q, want %q", i+1, got, w.limit)
		}
	}
	c.t = c.t.Add(1500 * time.Millisecond) // 3 tokens back: full
	if got := l.do("192.0.2.1:1", c.t).Header().Get("RateLimit"); got != `"search \"v1\"";r=2;t=1` {
		t.Errorf("after refill: RateLimit %q", got)
	}
}

// TestRateLimitPolicyWindow: q is the burst and w the seconds an empty
// bucket takes to fill, rounded up, at least 1; an unnamed limit is
// "default"; a name's bytes outside printable ASCII become '?'.
func TestRateLimitPolicyWindow(t *testing.T) {
	for _, tc := range []struct {
		name       string
		rps        float64
		burst      int
		wantPolicy string
	}{
		{"", 100, 100, `"default";q=100;w=1`},
		{"a", 0.5, 1, `"a";q=1;w=2`},
		{"b", 1000, 1, `"b";q=1;w=1`},
		{"c", 5, 7, `"c";q=7;w=2`},
		{"é\\", 1, 1, `"??\\";q=1;w=1`},
	} {
		c := &clock{t: time.Unix(1000, 0)}
		l := newLimited(t, c, middleware.RateLimitSettings{RPS: tc.rps, Burst: tc.burst},
			middleware.RateLimitPolicy{Name: tc.name, Key: ipKey(t, "ip", nil)})
		if got := l.do("192.0.2.1:1", c.t).Header().Get("RateLimit-Policy"); got != tc.wantPolicy {
			t.Errorf("%q %v/%d: RateLimit-Policy %q, want %q", tc.name, tc.rps, tc.burst, got, tc.wantPolicy)
		}
	}
	_ = http.StatusOK
}
