package main

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// TestHeaderKeyUnderscoreSpellingIsNoKey: a route limited by
// header:X-Api-Key, and a client holding one key. It sends its key as
// X_Api_Key, which CGI, WSGI and Rack backends read as X-Api-Key (the
// gateway removes the '_' spellings of the identity headers for that very
// reason), beside a made-up X-Api-Key, a new one each time. Keyed by the
// made-up line, each request had a fresh bucket: the key's holder was
// never limited, and the backend received its key every time. As with a
// field sent on two lines (TestRateLimitRepeatedKeyHeaderIsNoKey), such a
// request is keyed by its address.
func TestHeaderKeyUnderscoreSpellingIsNoKey(t *testing.T) {
	seen := make(chan http.Header, 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
	}))
	t.Cleanup(srv.Close)
	cfg, _ := loadFile(t, configText(srv.Listener.Addr().String(),
		`  - {name: keyed, path: /k, service: svc, rate_limit: {rps: 0.001, burst: 2, key: "header:X-Api-Key"}}
`))
	logger, _ := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	h := g.handler()
	send := func(header http.Header) int {
		req := httptest.NewRequest("GET", "/k", nil)
		req.RemoteAddr = "192.0.2.1:1234"
		for k, v := range header {
			req.Header[k] = v
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	passed, withKey := 0, 0
	for i := range 20 {
		code := send(http.Header{"X-Api-Key": {"made-up-" + strconv.Itoa(i)}, "X_Api_Key": {"key-of-alice"}})
		if code != http.StatusOK {
			continue
		}
		passed++
		select {
		case got := <-seen:
			if got.Get("X_Api_Key") == "key-of-alice" {
				withKey++
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the backend received nothing")
		}
	}
	if passed > 2 {
		t.Errorf("%d of 20 requests passed (%d carried X_Api_Key: key-of-alice to the backend), want at most the burst of 2", passed, withKey)
	}
}
