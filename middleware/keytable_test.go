package middleware_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/sluicehq/sluice/middleware"
)

// TestRateLimitKeyTableIsBounded floods a limiter with distinct keys and
// checks that it holds at most MaxKeys, that idle buckets go first, and
// that a client over its limit is not forgotten while idle ones remain.
func TestRateLimitKeyTableIsBounded(t *testing.T) {
	const maxKeys = 128 // 2 per shard: every eviction sees the whole shard
	c := &clock{t0}
	l := newLimited(t, c, middleware.RateLimitSettings{RPS: 1, Burst: 2, MaxKeys: maxKeys},
		middleware.RateLimitPolicy{Key: ipKey(t, "header:X-Key", nil)})
	flood := func(prefix string, n int) {
		for i := range n {
			if w := l.do("192.0.2.1:1", c.t, "X-Key", prefix+strconv.Itoa(i)); w.Code != http.StatusOK {
				t.Fatalf("new key %d: %d", i, w.Code)
			}
		}
	}
	flood("a", 10*maxKeys)
	if n := l.lim.Len(); n > maxKeys || n < maxKeys/2 {
		t.Fatalf("%d keys held after a flood of %d, want at most %d (and the table used)", n, 10*maxKeys, maxKeys)
	}

	// Ten seconds on, every flooded bucket has refilled: idle. A client
	// spends its burst, then a second flood of keys that each spend a token.
	c.t = c.t.Add(10 * time.Second)
	l.do("192.0.2.1:1", c.t, "X-Key", "hot")
	l.do("192.0.2.1:1", c.t, "X-Key", "hot")
	flood("b", 10*maxKeys)
	if n := l.lim.Len(); n > maxKeys {
		t.Fatalf("%d keys held, want at most %d", n, maxKeys)
	}
	// The hot client, with fewer tokens than any flooded key, was never
	// the one evicted: it is still over its limit.
	wantTooMany(t, l.do("192.0.2.1:1", c.t, "X-Key", "hot"), "1")
}

func TestClientIP(t *testing.T) {
	proxies, err := middleware.ParseTrustedProxies([]string{"10.0.0.0/8", "192.0.2.7", "2001:db8::/32"})
	if err != nil {
		t.Fatal(err)
	}
	// A link-local proxy's address comes zoned; an IPv4-mapped prefix
	// stands for the IPv4 one.
	odd, err := middleware.ParseTrustedProxies([]string{"fe80::/10", "::ffff:172.16.0.0/108"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		proxies *middleware.TrustedProxies
		remote  string
		xff     []string
		want    string
	}{
		{"no trusted proxies", nil, "10.0.0.1:5", []string{"203.0.113.9"}, "10.0.0.1"},
		{"untrusted peer", proxies, "198.51.100.1:5", []string{"203.0.113.9"}, "198.51.100.1"},
		{"trusted peer", proxies, "10.0.0.1:5", []string{"203.0.113.9"}, "203.0.113.9"},
		{"chain of proxies", proxies, "10.0.0.1:5", []string{"203.0.113.9, 10.1.1.1", "192.0.2.7"}, "203.0.113.9"},
		{"spoofed left part", proxies, "10.0.0.1:5", []string{"1.1.1.1, 203.0.113.9"}, "203.0.113.9"},
		{"all trusted", proxies, "10.0.0.1:5", []string{"10.0.0.2"}, "10.0.0.2"},
		{"unreadable entry", proxies, "10.0.0.1:5", []string{"203.0.113.9, garbage, 10.0.0.3"}, "10.0.0.3"},
		{"empty entry", proxies, "10.0.0.1:5", []string{"203.0.113.9,, 10.0.0.3"}, "10.0.0.3"},
		// An empty first element of a line stops the walk as an empty one
		// inside a line does, rather than let it go on to the line before
		// (found by FuzzClientIP).
		{"empty first entry of a line", proxies, "10.0.0.1:5", []string{"203.0.113.9", ", 10.0.0.3"}, "10.0.0.3"},
		{"empty line", proxies, "10.0.0.1:5", []string{"203.0.113.9", ""}, "203.0.113.9"},
		{"no header", proxies, "10.0.0.1:5", nil, "10.0.0.1"},
		{"IPv6 peer", proxies, "[2001:db8::1]:5", []string{"[2001:db9::5]:443"}, "2001:db9::5"},
		{"IPv4-mapped peer", nil, "[::ffff:198.51.100.1]:5", nil, "198.51.100.1"},
		{"bad remote", proxies, "@", nil, "invalid IP"},
		{"zoned link-local proxy", odd, "[fe80::1%eth0]:5", []string{"203.0.113.9"}, "203.0.113.9"},
		{"proxy in an IPv4-mapped prefix", odd, "172.16.0.9:5", []string{"203.0.113.9"}, "203.0.113.9"},
		{"peer outside the IPv4-mapped prefix", odd, "172.32.0.9:5", []string{"203.0.113.9"}, "172.32.0.9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			r.Header["X-Forwarded-For"] = tt.xff
			if got := tt.proxies.ClientIP(r); got.String() != tt.want {
				t.Errorf("ClientIP = %s, want %s", got, tt.want)
			}
		})
	}
	if _, err := middleware.ParseTrustedProxies([]string{"10.0.0.0/33"}); err == nil {
		t.Error("a bad prefix parsed")
	}
}
