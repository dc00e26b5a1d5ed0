package middleware_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/middleware"
)

// scriptedStore answers from a script of decisions and errors, recording
// the keys it is asked: the store itself is tested in redislimit.
type scriptedStore struct {
	answers []scripted
	keys    []string
}

type scripted struct {
	d   middleware.RateDecision
	err error
}

func (s *scriptedStore) Allow(ctx context.Context, key string, _ float64, _ int) (middleware.RateDecision, error) {
	s.keys = append(s.keys, key)
	a := s.answers[0]
	s.answers = s.answers[1:]
	if errors.Is(a.err, context.Canceled) {
		return middleware.RateDecision{}, ctx.Err()
	}
	return a.d, a.err
}

type globalRun struct {
	passed, limited int
	sources         []string
	h               http.Handler
}

func newGlobal(t *testing.T, store middleware.GlobalStore, p middleware.GlobalRateLimitPolicy) *globalRun {
	t.Helper()
	g := &globalRun{}
	p.OnLimited = func() { g.limited++ }
	p.OnDecision = func(_ time.Duration, src string) { g.sources = append(g.sources, src) }
	g.h = middleware.GlobalRateLimit(store, p)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { g.passed++ }))
	return g
}

func (g *globalRun) do(ctx context.Context, remote string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "/x", nil).WithContext(ctx)
	r.RemoteAddr = remote
	w := httptest.NewRecorder()
	g.h.ServeHTTP(w, r)
	return w
}

// TestGlobalRateLimitDecides: the store's answer decides, its remaining
// count and reset go into the RateLimit fields, a refusal is 429 with
// Retry-After, and the key is the scope then the client's key.
func TestGlobalRateLimitDecides(t *testing.T) {
	store := &scriptedStore{answers: []scripted{
		{d: middleware.RateDecision{Allowed: true, Remaining: 41, ResetAfter: 580 * time.Millisecond}},
		{d: middleware.RateDecision{Allowed: false, RetryAfter: 2500 * time.Millisecond, ResetAfter: 59 * time.Second}},
	}}
	g := newGlobal(t, store, middleware.GlobalRateLimitPolicy{Name: "api", Scope: "api GET /x",
		Key: ipKey(t, "ip", nil), RPS: 100, Burst: 100})
	w := g.do(context.Background(), "192.0.2.7:1")
	if w.Code != 200 || g.passed != 1 || w.Header().Get("RateLimit") != `"api";r=41;t=1` ||
		w.Header().Get("RateLimit-Policy") != `"api";q=100;w=1` {
		t.Fatalf("allowed: %d, fields %v", w.Code, w.Header())
	}
	w = g.do(context.Background(), "192.0.2.7:1")
	wantTooMany(t, w, "3")
	if g.passed != 1 || g.limited != 1 || w.Header().Get("RateLimit") != `"api";r=0;t=59` {
		t.Fatalf("refused: passed %d limited %d, RateLimit %q", g.passed, g.limited, w.Header().Get("RateLimit"))
	}
	if len(store.keys) != 2 || store.keys[0] != store.keys[1] || store.keys[0][:11] != "api GET /x\x00" {
		t.Fatalf("store keys %q", store.keys)
	}
	if g.sources[0] != middleware.SourceGlobal || g.sources[1] != middleware.SourceGlobal {
		t.Fatalf("sources %v", g.sources)
	}
}

// TestGlobalRateLimitFailOpen: when the store cannot decide, the replica's
// local share decides, and says so in the RateLimit fields; the store's
// next answer is used again.
func TestGlobalRateLimitFailOpen(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	down := errors.New("redis down")
	store := &scriptedStore{}
	for range 4 {
		store.answers = append(store.answers, scripted{err: down})
	}
	store.answers = append(store.answers, scripted{d: middleware.RateDecision{Allowed: true, Remaining: 9}})
	// A limit of 30/s in bursts of 9 over 3 replicas: a share of 10/s in
	// bursts of 3.
	local, err := middleware.NewLocalShare(middleware.RateLimitSettings{RPS: 30, Burst: 9, Now: c.now}, func() int { return 3 })
	if err != nil {
		t.Fatal(err)
	}
	g := newGlobal(t, store, middleware.GlobalRateLimitPolicy{Name: "api", Key: ipKey(t, "ip", nil), RPS: 30, Burst: 9,
		Fallback: middleware.FailOpen, Local: local})
	for i := range 3 {
		if w := g.do(context.Background(), "192.0.2.7:1"); w.Code != 200 {
			t.Fatalf("request %d: %d, want 200 from the local share", i+1, w.Code)
		}
	}
	w := g.do(context.Background(), "192.0.2.7:1")
	wantTooMany(t, w, "1")
	if got := w.Header().Get("RateLimit"); got != `"api";r=0;t=1` {
		t.Errorf("local refusal: RateLimit %q", got)
	}
	if w := g.do(context.Background(), "192.0.2.7:1"); w.Code != 200 || w.Header().Get("RateLimit") != `"api";r=9;t=0` {
		t.Fatalf("store back: %d %q", w.Code, w.Header().Get("RateLimit"))
	}
	want := []string{"local", "local", "local", "local", "global"}
	for i, s := range want {
		if g.sources[i] != s {
			t.Fatalf("sources %v, want %v", g.sources, want)
		}
	}
}

// TestGlobalRateLimitFailClosed: without the store a fail-closed route
// answers 503 rate-limit-unavailable, never passing the request on.
func TestGlobalRateLimitFailClosed(t *testing.T) {
	store := &scriptedStore{answers: []scripted{{err: errors.New("redis down")}}}
	g := newGlobal(t, store, middleware.GlobalRateLimitPolicy{Name: "api", Key: ipKey(t, "ip", nil), RPS: 30, Burst: 9,
		Fallback: middleware.FailClosed})
	w := g.do(context.Background(), "192.0.2.7:1")
	var p struct{ Type string }
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || w.Code != 503 || p.Type != problem.TypeLimiterDown ||
		w.Header().Get("Retry-After") != "1" || g.passed != 0 || g.limited != 0 {
		t.Fatalf("status %d, body %s, Retry-After %q, passed %d", w.Code, w.Body, w.Header().Get("Retry-After"), g.passed)
	}
	if g.sources[0] != middleware.SourceClosed {
		t.Fatalf("sources %v", g.sources)
	}
}

// TestGlobalRateLimitClientLeft: a client gone while the store decides
// gets nothing written, and is neither passed on nor counted as limited.
func TestGlobalRateLimitClientLeft(t *testing.T) {
	store := &scriptedStore{answers: []scripted{{err: context.Canceled}}}
	g := newGlobal(t, store, middleware.GlobalRateLimitPolicy{Name: "api", Key: ipKey(t, "ip", nil), RPS: 30, Burst: 9})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w := g.do(ctx, "192.0.2.7:1")
	if g.passed != 0 || g.limited != 0 || w.Body.Len() != 0 || len(g.sources) != 0 {
		t.Fatalf("passed %d limited %d body %q sources %v", g.passed, g.limited, w.Body, g.sources)
	}
}

// TestLocalShareFollowsTheCount: the share is the limit over the count,
// the burst rounded up, and follows a count that changes.
func TestLocalShareFollowsTheCount(t *testing.T) {
	n := 3
	l, err := middleware.NewLocalShare(middleware.RateLimitSettings{RPS: 100, Burst: 10}, func() int { return n })
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		n     int
		rps   float64
		burst int
	}{{3, 100.0 / 3, 4}, {3, 100.0 / 3, 4}, {1, 100, 10}, {0, 100, 10}, {20, 5, 1}} {
		n = tc.n
		if s := l.Settings(); s.RPS != tc.rps || s.Burst != tc.burst {
			t.Errorf("count %d: share %v/s burst %d, want %v/s burst %d", tc.n, s.RPS, s.Burst, tc.rps, tc.burst)
		}
	}
	if _, err := middleware.NewLocalShare(middleware.RateLimitSettings{RPS: 0, Burst: 1}, func() int { return 1 }); err == nil {
		t.Error("a share of a zero limit was accepted")
	}
}
