package rpc_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/rpc"
)

// discardWriter is a ResponseWriter that keeps the header and drops the
// body, so that a benchmark counts the handler's work alone.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(int)             {}

// inboundCall sets up one call of a backend's companion package, as
// bench/companion's Inbound+rpc.Server variant runs it: budget.Inbound in
// front of rpc.Server, one JSON endpoint, under a request context of
// package context's, as net/http's server gives one. call makes the call
// again, with a fresh body and an empty answer header; the server half
// (parsing, the response's framing) is not in it.
func inboundCall(tb testing.TB) (call func()) {
	srv := rpc.NewServer()
	rpc.Register(srv, "Greeter.Hello", func(_ context.Context, req *echoReq) (*echoRsp, error) {
		return &echoRsp{Name: "Hello, " + req.Name + "!"}, nil
	})
	h := budget.Inbound(budget.ServerPolicy{})(srv)
	const body = `{"name":"bench"}`
	parent, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	r, err := http.NewRequestWithContext(parent, http.MethodPost, "http://backend"+rpc.Path("Greeter.Hello"), nil)
	if err != nil {
		tb.Fatal(err)
	}
	r.Header.Set("Content-Type", rpc.ContentType)
	r.Header.Set(budget.HeaderName, "ms=4000; hop=1")
	r.ContentLength = int64(len(body))
	rd := strings.NewReader(body)
	w := &discardWriter{h: make(http.Header)}
	return func() {
		rd.Reset(body)
		r.Body = readCloser{rd}
		clear(w.h)
		h.ServeHTTP(w, r)
	}
}

// BenchmarkInboundServer is what a backend's companion package costs one
// call on the server's side (inboundCall).
func BenchmarkInboundServer(b *testing.B) {
	call := inboundCall(b)
	b.ReportAllocs()
	for b.Loop() {
		call()
	}
}

// TestInboundServerAllocations holds a call's allocations (inboundCall) to
// what they were brought down to: 22 when the budget's context under a
// parent of package context's was context.WithDeadline's and the body went
// through a json.Decoder, 15 since.
//
// Under the race detector a call may take one more on average: its
// sync.Pool drops pooled values at random (race_on_test.go), so
// encoding/json's encode state and buffer are made again for about a
// quarter of the calls, and the average, which AllocsPerRun truncates,
// came out 15 or 16 from one run to the next (CI failed on it).
func TestInboundServerAllocations(t *testing.T) {
	call := inboundCall(t)
	limit := 15.0
	if raceEnabled {
		limit++
	}
	if n := testing.AllocsPerRun(100, call); n > limit {
		t.Fatalf("%v allocations a call, want at most %v", n, limit)
	}
}

// readCloser is an io.NopCloser that needs no allocation a call.
type readCloser struct{ *strings.Reader }

func (readCloser) Close() error { return nil }
