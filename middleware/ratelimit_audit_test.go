package middleware_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/sluicehq/sluice/middleware"
)

// TestRateLimitRepeatedKeyHeaderIsNoKey: a client holding one API key
// sends it beside a made-up line of the same field, a new one each time.
// A backend may read either line (PHP behind FastCGI takes the last), so
// keyed by the first line each request had a fresh bucket and the key's
// holder was never limited. Such requests draw from their address's
// bucket, with the requests without the field.
func TestRateLimitRepeatedKeyHeaderIsNoKey(t *testing.T) {
	c := &clock{t0}
	l := newLimited(t, c, middleware.RateLimitSettings{RPS: 0.001, Burst: 2},
		middleware.RateLimitPolicy{Key: ipKey(t, "header:X-Api-Key", nil)})
	send := func(values ...string) int {
		r := httptest.NewRequest("GET", "/x", nil)
		r.RemoteAddr = "192.0.2.1:5"
		r.Header["X-Api-Key"] = values
		w := httptest.NewRecorder()
		l.h.ServeHTTP(w, r)
		return w.Code
	}
	for i := range 2 {
		if code := send("key-of-alice"); code != http.StatusOK {
			t.Fatalf("request %d with the key alone: %d, want 200", i, code)
		}
	}
	if code := send("key-of-alice"); code != http.StatusTooManyRequests {
		t.Fatalf("third request with the key alone: %d, want 429", code)
	}
	for i := range 10 {
		send("made-up-"+strconv.Itoa(i), "key-of-alice")
		send("", "key-of-alice")
	}
	if l.passed > 4 {
		t.Errorf("%d requests passed, want at most 4: the key's burst and the address's", l.passed)
	}
}

// TestRateLimitUnderscoredKeyHeaderIsNoKey: as above, with the key sent
// as X_Api_Key, which CGI, WSGI and Rack backends read as X-Api-Key,
// beside a made-up X-Api-Key: such requests draw from their address's
// bucket too.
func TestRateLimitUnderscoredKeyHeaderIsNoKey(t *testing.T) {
	c := &clock{t0}
	l := newLimited(t, c, middleware.RateLimitSettings{RPS: 0.001, Burst: 2},
		middleware.RateLimitPolicy{Key: ipKey(t, "header:X-Api-Key", nil)})
	for i := range 10 {
		r := httptest.NewRequest("GET", "/x", nil)
		r.RemoteAddr = "192.0.2.1:5"
		r.Header["X-Api-Key"] = []string{"made-up-" + strconv.Itoa(i)}
		r.Header["X_api_key"] = []string{"key-of-alice"}
		l.h.ServeHTTP(httptest.NewRecorder(), r)
	}
	if l.passed > 2 {
		t.Errorf("%d requests passed, want at most the address's burst of 2", l.passed)
	}
}
