package router_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/router"
)

// doerFunc is a Doer of one function.
type doerFunc func(*http.Request) (*http.Response, error)

func (f doerFunc) Do(r *http.Request) (*http.Response, error) { return f(r) }

// flushCounter is a recorder that counts its flushes and the writes before
// the first one.
type flushCounter struct {
	*httptest.ResponseRecorder
	flushes, writes int
}

func (w *flushCounter) Write(p []byte) (int, error) {
	w.writes++
	return w.ResponseRecorder.Write(p)
}

func (w *flushCounter) Flush() {
	w.flushes++
	w.ResponseRecorder.Flush()
}

// pieces reads s n bytes at a time, as a backend that writes in small parts.
type pieces struct {
	s string
	n int
}

func (p *pieces) Read(b []byte) (int, error) {
	if p.s == "" {
		return 0, io.EOF
	}
	k := min(len(b), p.n, len(p.s))
	copy(b, p.s[:k])
	p.s = p.s[k:]
	return k, nil
}

// A stream (text/event-stream, or an answer of unknown length) is flushed
// after every write and at its header; an answer with a Content-Length is
// not flushed write by write (at most once, at its end).
func TestStreamsAreFlushedWriteByWrite(t *testing.T) {
	const parts, size = 50, 1 << 10
	body := strings.Repeat("e", parts*size)
	cases := []struct {
		name        string
		ct          string
		length      int64
		method      string
		wantFlushes func(n int) bool
	}{
		{"Content-Length", "application/json", int64(len(body)), http.MethodGet, func(n int) bool { return n <= 1 }},
		{"unknown length", "application/json", -1, http.MethodGet, func(n int) bool { return n >= parts+1 }},
		{"event stream with a length", "text/event-stream; charset=utf-8", int64(len(body)), http.MethodGet, func(n int) bool { return n >= parts+1 }},
		{"event stream", "TEXT/EVENT-STREAM", -1, http.MethodGet, func(n int) bool { return n >= parts+1 }},
		{"not an event stream", "text/event-streamer", int64(len(body)), http.MethodGet, func(n int) bool { return n <= 1 }},
		{"HEAD of unknown length", "text/event-stream", -1, http.MethodHead, func(n int) bool { return n == 0 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doer := doerFunc(func(r *http.Request) (*http.Response, error) {
				resp := &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {tc.ct}},
					ContentLength: tc.length, Body: io.NopCloser(&pieces{s: body, n: size}), Request: r}
				if tc.method == http.MethodHead {
					resp.Body = http.NoBody
				}
				return resp, nil
			})
			rt, err := router.New([]router.Route{{Method: "*", Path: "/s", Service: "svc", Budget: budget.Policy{Timeout: time.Minute}}}, doer, router.Options{})
			if err != nil {
				t.Fatal(err)
			}
			w := &flushCounter{ResponseRecorder: httptest.NewRecorder()}
			rt.ServeHTTP(w, httptest.NewRequest(tc.method, "/s", nil))
			if tc.method == http.MethodGet && w.Body.String() != body {
				t.Fatalf("body: %d bytes, want %d", w.Body.Len(), len(body))
			}
			if !tc.wantFlushes(w.flushes) {
				t.Errorf("%d flushes for %d writes", w.flushes, w.writes)
			}
		})
	}
}
