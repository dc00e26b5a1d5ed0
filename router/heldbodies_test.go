package router_test

import (
	"bytes"
	"errors"
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

// holdingDoer reads each request's body as a transport would and, for a
// request marked X-Hold, tells got and waits until release(its X-Name)
// before it answers 200: the request, and the body its handler holds, stay
// in flight.
type holdingDoer struct {
	got chan *http.Request

	mu       sync.Mutex
	bodies   map[string][]byte // by X-Name
	releases map[string]chan struct{}
	calls    int
}

func newHoldingDoer() *holdingDoer {
	return &holdingDoer{got: make(chan *http.Request, 8), bodies: map[string][]byte{}, releases: map[string]chan struct{}{}}
}

// gate returns the channel that releases the request named name.
func (d *holdingDoer) gate(name string) chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.releases[name] == nil {
		d.releases[name] = make(chan struct{})
	}
	return d.releases[name]
}

func (d *holdingDoer) release(name string) { close(d.gate(name)) }

func (d *holdingDoer) Do(r *http.Request) (*http.Response, error) {
	var body []byte
	if r.Body != nil {
		body, _ = io.ReadAll(r.Body)
	}
	d.mu.Lock()
	d.calls++
	d.bodies[r.Header.Get("X-Name")] = body
	d.mu.Unlock()
	if r.Header.Get("X-Hold") != "" {
		d.got <- r
		<-d.gate(r.Header.Get("X-Name"))
	}
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}

func (d *holdingDoer) body(name string) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.bodies[name]
}

// The bodies held for a retry share the BodyBudget, beyond each one's first
// 4 KiB. With a body in flight holding most of it, a second large body on
// an HTTP route is streamed after what it could hold (whole at the node, not
// replayable), a small body is still held, and an RPC route, which must
// hold its body whole, answers 503 overloaded without calling the node. The
// room comes back when the handler holding it returns.
func TestHeldBodiesShareABudget(t *testing.T) {
	const max = 100 << 10
	bodies := router.NewBodyBudget(max)
	d := newHoldingDoer()
	rt, err := router.New([]router.Route{
		{Method: "POST", Path: "/up", Service: "up", Budget: policy},
		{Method: "POST", Path: "/rpc", Service: "s", Endpoint: "S.M", Budget: policy},
	}, d, router.Options{HeldBodies: bodies})
	if err != nil {
		t.Fatal(err)
	}
	post := func(path, name string, body []byte) *http.Request {
		req := httptest.NewRequest("POST", path, bytes.NewReader(body))
		req.Header.Set("X-Name", name)
		return req
	}
	large := bytes.Repeat([]byte("a"), 60<<10)

	// A 60 KiB body held while its request is in flight.
	first := post("/up", "first", large)
	first.Header.Set("X-Hold", "1")
	done := make(chan *httptest.ResponseRecorder)
	go func() { done <- serve(rt, first) }()
	out := <-d.got
	if out.GetBody == nil {
		t.Fatal("the first body was not held")
	}
	held := bodies.Held()
	if held != int64(len(large))-4<<10 {
		t.Fatalf("the budget holds %d bytes for a body of %d, want all but its first 4 KiB", held, len(large))
	}

	// No room for a second one: streamed, whole, not replayable.
	second := bytes.Repeat([]byte("b"), 60<<10)
	rec := serve(rt, post("/up", "second", second))
	if rec.Code != http.StatusOK || !bytes.Equal(d.body("second"), second) {
		t.Fatalf("a body over the budget: %d, the node got %d of %d bytes", rec.Code, len(d.body("second")), len(second))
	}
	if bodies.Refused() != 1 || bodies.Held() != held {
		t.Fatalf("refused %d, held %d: want 1 refusal and the first body's room alone", bodies.Refused(), bodies.Held())
	}

	// A small body takes nothing from the budget: still held.
	small := post("/up", "small", []byte(strings.Repeat("c", 3000)))
	small.Header.Set("X-Hold", "1")
	go func() { done <- serve(rt, small) }()
	if out := <-d.got; out.GetBody == nil || out.ContentLength != 3000 {
		t.Fatalf("a 3000-byte body with the budget full: GetBody set %v, length %d", out.GetBody != nil, out.ContentLength)
	}
	d.release("small")
	if rec := <-done; rec.Code != http.StatusOK {
		t.Fatalf("the small body's request: %d", rec.Code)
	}

	// An RPC route cannot stream: 503, and the node is not called.
	d.mu.Lock()
	calls := d.calls
	d.mu.Unlock()
	rpcBody := []byte(`{"pad":"` + strings.Repeat("x", 60<<10) + `"}`)
	rec = serve(rt, post("/rpc", "rpc", rpcBody))
	wantProblem(t, rec, http.StatusServiceUnavailable, problem.TypeOverloaded)
	if rec.Header().Get("Retry-After") != "1" || rec.Header().Get("Sluice-Retry") != "no" {
		t.Errorf("Retry-After %q, Sluice-Retry %q: want 1 and no", rec.Header().Get("Retry-After"), rec.Header().Get("Sluice-Retry"))
	}
	d.mu.Lock()
	called := d.calls != calls
	d.mu.Unlock()
	if called {
		t.Error("the node was called for an RPC body the gateway could not hold")
	}

	// The first request ends: its room comes back, and the RPC body fits.
	d.release("first")
	if rec := <-done; rec.Code != http.StatusOK {
		t.Fatalf("the first request: %d", rec.Code)
	}
	if bodies.Held() != 0 {
		t.Fatalf("the budget holds %d bytes with no request in flight", bodies.Held())
	}
	if rec := serve(rt, post("/rpc", "rpc", rpcBody)); rec.Code != http.StatusOK {
		t.Fatalf("the RPC body after the room came back: %d %s", rec.Code, rec.Body)
	}
	if bodies.Held() != 0 {
		t.Fatalf("the budget holds %d bytes after the RPC request", bodies.Held())
	}
}

// A body that fails while held gives its room back too.
func TestHeldBodyFailureGivesItsRoomBack(t *testing.T) {
	bodies := router.NewBodyBudget(0)
	if bodies.Max() != router.DefaultHeldBodyBytes {
		t.Fatalf("a budget of 0 has %d bytes, want DefaultHeldBodyBytes", bodies.Max())
	}
	rt, err := router.New([]router.Route{{Method: "POST", Path: "/up", Service: "up", Budget: policy}},
		newHoldingDoer(), router.Options{HeldBodies: bodies})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("POST", "/up", &failingReader{n: 50 << 10, err: errors.New("cut")})
	req.ContentLength = 60 << 10
	wantProblem(t, serve(rt, req), http.StatusBadRequest, problem.TypeBadRequest)
	if bodies.Held() != 0 {
		t.Fatalf("the budget holds %d bytes after a failed body", bodies.Held())
	}
}

// The refusal is the gateway's: a 503 that no breaker or retry budget
// counts against a node, and that no hop above retries at once.
func TestHeldBodiesErrorIsAnOverload(t *testing.T) {
	var err error = &router.HeldBodiesError{Max: 1 << 20}
	if st, typ, _ := rpc.StatusOf(err); st != http.StatusServiceUnavailable || typ != problem.TypeOverloaded {
		t.Fatalf("StatusOf = %d %s", st, typ)
	}
	var cf interface{ ClientFault() bool }
	if errors.As(err, &cf) {
		t.Error("a held-bodies refusal claims to be the client's fault")
	}
}
