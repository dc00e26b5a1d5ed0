package router_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/router"
	"github.com/sluicehq/sluice/rpc"
)

// The client-fault error is found through errors.As, wrapped or not, both as
// the ClientFault interface the upstream client classifies by and as the
// rpc.Problemer that rpc.StatusOf answers with.
func TestBodyErrorIsAClientFaultAndAProblem(t *testing.T) {
	for _, status := range []int{http.StatusBadRequest, http.StatusRequestTimeout, http.StatusRequestEntityTooLarge} {
		var err error = &router.BodyError{Status: status, Reason: "r", Err: io.ErrUnexpectedEOF}
		err = fmt.Errorf("upstream: svc: %w", err)
		var cf interface{ ClientFault() bool }
		if !errors.As(err, &cf) || !cf.ClientFault() {
			t.Errorf("%d: errors.As found no client fault in %v", status, err)
		}
		var p rpc.Problemer
		if !errors.As(err, &p) {
			t.Fatalf("%d: errors.As found no Problemer in %v", status, err)
		}
		if got, typ, _ := rpc.StatusOf(err); got != status || typ != problem.TypeBadRequest {
			t.Errorf("StatusOf = %d %s, want %d %s", got, typ, status, problem.TypeBadRequest)
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("%d: the cause is lost", status)
		}
	}
}

// capturingDoer records what the router hands the client, reading the body
// as a transport would, and answers 200 or fails with err.
type capturingDoer struct {
	mu      sync.Mutex
	got     *http.Request
	body    []byte
	readErr error
	err     error
}

func (d *capturingDoer) Do(r *http.Request) (*http.Response, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.got = r
	if r.Body != nil {
		d.body, d.readErr = io.ReadAll(r.Body)
		r.Body.Close()
	}
	if d.err != nil {
		return nil, d.err
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok")), Request: r}, nil
}

// failingReader yields n bytes, then fails with err.
type failingReader struct {
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	k := min(len(p), f.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	f.n -= k
	return k, nil
}

func newRouter(t *testing.T, d router.Doer, routes ...router.Route) *router.Router {
	t.Helper()
	rt, err := router.New(routes, d, router.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// A body that ends within MaxReplayBody is held whole before the client is
// called, whatever the method and the framing: sent with a Content-Length
// and replayable. A larger one is streamed with its declared length.
func TestBodiesHeldOrStreamed(t *testing.T) {
	small := strings.Repeat("s", 1000)
	exact := strings.Repeat("e", router.MaxReplayBody)
	large := strings.Repeat("l", router.MaxReplayBody*3+7)
	cases := []struct {
		name       string
		method     string
		body       string
		chunked    bool
		wantLength int64
		replayable bool
	}{
		{"POST, known length", "POST", small, false, 1000, true},
		{"PATCH, chunked", "PATCH", small, true, 1000, true},
		{"POST, exactly MaxReplayBody", "POST", exact, false, router.MaxReplayBody, true},
		// Held too: it ends within MaxReplayBody, which the read of its
		// end after MaxReplayBody bytes tells (it was streamed, and its
		// request was not retried where a Content-Length one was).
		{"POST, chunked, exactly MaxReplayBody", "POST", exact, true, router.MaxReplayBody, true},
		// The byte that tells it goes on is sent first, after the start.
		{"POST, chunked, MaxReplayBody+1", "POST", exact + "+", true, -1, false},
		{"PUT, large", "PUT", large, false, int64(len(large)), false},
		{"POST, chunked, large", "POST", large, true, -1, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := &capturingDoer{}
			rt := newRouter(t, d, router.Route{Method: "*", Path: "/up", Service: "up", Budget: policy})
			req := httptest.NewRequest(tc.method, "/up", strings.NewReader(tc.body))
			if tc.chunked {
				req.ContentLength, req.TransferEncoding = -1, []string{"chunked"}
			}
			if rec := serve(rt, req); rec.Code != http.StatusOK {
				t.Fatalf("answer %d %s", rec.Code, rec.Body)
			}
			if d.readErr != nil || string(d.body) != tc.body {
				t.Fatalf("the client read %d bytes (%v), want the %d sent", len(d.body), d.readErr, len(tc.body))
			}
			if d.got.ContentLength != tc.wantLength {
				t.Errorf("ContentLength = %d, want %d", d.got.ContentLength, tc.wantLength)
			}
			if tc.replayable {
				if len(d.got.TransferEncoding) != 0 || d.got.GetBody == nil {
					t.Fatalf("TransferEncoding %v, GetBody set %v: want a held, replayable body", d.got.TransferEncoding, d.got.GetBody != nil)
				}
				b, _ := d.got.GetBody()
				if again, _ := io.ReadAll(b); string(again) != tc.body {
					t.Errorf("GetBody replays %d bytes, want %d", len(again), len(tc.body))
				}
			} else if d.got.GetBody != nil {
				t.Error("a streamed body claims to be replayable")
			}
		})
	}
}

// A body that fails is answered as the client's fault, 400, whatever the
// client's error says: when the router reads it before forwarding, and when
// the client reads its streamed rest and fails with an error of its own.
func TestBodyFailuresAreTheClients(t *testing.T) {
	upstreamErr := &rpc.Error{Status: http.StatusBadGateway, Type: problem.TypeMaybeDone, Title: "Upstream failed"}
	cases := []struct {
		name     string
		body     io.Reader
		length   int64
		doerErr  error
		wantCall bool
	}{
		{"cut within the held start", &failingReader{n: 10, err: io.ErrUnexpectedEOF}, -1, nil, false},
		{"cut in the streamed rest", &failingReader{n: router.MaxReplayBody + 100, err: io.ErrUnexpectedEOF}, -1, upstreamErr, true},
		{"shorter than declared", &failingReader{n: 100, err: io.EOF}, 200, nil, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := &capturingDoer{err: tc.doerErr}
			rt := newRouter(t, d, router.Route{Method: "POST", Path: "/up", Service: "up", Budget: policy})
			req := httptest.NewRequest("POST", "/up", tc.body)
			req.ContentLength = tc.length
			rec := serve(rt, req)
			wantProblem(t, rec, http.StatusBadRequest, problem.TypeBadRequest)
			if called := d.got != nil; called != tc.wantCall {
				t.Errorf("client called: %v, want %v", called, tc.wantCall)
			}
		})
	}
}

// An RPC route's body over the limit is 413, declared or not, without
// calling the backend.
func TestRPCBodyOverTheLimit(t *testing.T) {
	d := &capturingDoer{}
	rt, err := router.New([]router.Route{{Method: "POST", Path: "/rpc", Service: "s", Endpoint: "S.M", Budget: policy}},
		d, router.Options{MaxBodyBytes: 100})
	if err != nil {
		t.Fatal(err)
	}
	for _, length := range []int64{101, -1} {
		req := httptest.NewRequest("POST", "/rpc", bytes.NewReader(bytes.Repeat([]byte(" "), 101)))
		req.ContentLength = length
		wantProblem(t, serve(rt, req), http.StatusRequestEntityTooLarge, problem.TypeBadRequest)
	}
	if d.got != nil {
		t.Error("the client was called for a body over the limit")
	}
}

// probeReader records the size of each read it is asked for, yields n bytes,
// then fails.
type probeReader struct {
	sizes []int
	n     int
}

func (p *probeReader) Read(b []byte) (int, error) {
	p.sizes = append(p.sizes, len(b))
	if p.n == 0 {
		return 0, io.ErrUnexpectedEOF
	}
	k := min(len(b), p.n)
	p.n -= k
	return k, nil
}

// A client that declares a large body and sends little costs memory for
// what it sent, not for what it declared: reads start small and grow.
func TestHeldBodyGrowsAsBytesArrive(t *testing.T) {
	d := &capturingDoer{}
	rt := newRouter(t, d, router.Route{Method: "PUT", Path: "/up", Service: "up", Budget: policy})
	p := &probeReader{n: 10}
	req := httptest.NewRequest("PUT", "/up", p)
	req.ContentLength = router.MaxReplayBody
	wantProblem(t, serve(rt, req), http.StatusBadRequest, problem.TypeBadRequest)
	if len(p.sizes) == 0 || p.sizes[0] > 4<<10 {
		t.Errorf("read sizes %v: the first read asked for more than 4 KiB of a body that had not arrived", p.sizes)
	}
}

// A held body makes any request replayable where it provably never reached
// a node: a POST whose first pick refuses the connection is sent, body and
// all, to the other node.
func TestHeldBodyRetriedOnAnotherNodeWhenNeverSent(t *testing.T) {
	be := newBackend(t, nil)
	rt := (&setup{}).node("up", closedAddr(t)).node("up", be.addr()).build(t,
		router.Route{Method: "POST", Path: "/up", Service: "up", Budget: policy})
	for i := range 10 { // the dead node is picked first in some of them
		req := httptest.NewRequest("POST", "/up", strings.NewReader("payload"))
		req.ContentLength, req.TransferEncoding = -1, []string{"chunked"}
		if rec := serve(rt, req); rec.Code != http.StatusOK {
			t.Fatalf("request %d: %d %s, want 200 from the live node", i, rec.Code, rec.Body)
		}
		if got := be.last(t); string(got.Body) != "payload" {
			t.Fatalf("request %d: the backend got %q", i, got.Body)
		}
	}
}

// A held body whose request declares trailers stays chunked, so that the
// trailers can follow it.
func TestHeldBodyWithTrailersStaysChunked(t *testing.T) {
	d := &capturingDoer{}
	rt := newRouter(t, d, router.Route{Method: "POST", Path: "/up", Service: "up", Budget: policy})
	req := httptest.NewRequest("POST", "/up", strings.NewReader("payload"))
	req.ContentLength, req.TransferEncoding = -1, []string{"chunked"}
	req.Trailer = http.Header{"X-Sum": {"42"}}
	if rec := serve(rt, req); rec.Code != http.StatusOK {
		t.Fatalf("answer %d %s", rec.Code, rec.Body)
	}
	if d.got.ContentLength != -1 || d.got.Trailer.Get("X-Sum") != "42" || d.got.GetBody == nil || string(d.body) != "payload" {
		t.Errorf("forwarded length %d, trailer %v, replayable %v, body %q: want chunked with the trailer",
			d.got.ContentLength, d.got.Trailer, d.got.GetBody != nil, d.body)
	}
}
