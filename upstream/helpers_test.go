package upstream_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/refused"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/selector"
	"github.com/sluicehq/sluice/upstream"
)

// waitTimeout bounds every wait for a condition. It is generous so that a
// loaded machine never fails a correct test; no test asserts on timing.
const waitTimeout = 10 * time.Second

const service = "svc"

// hit is what a backend saw of one request.
type hit struct {
	Method, Path, Host, ContentType, Budget, Body string
}

// backend is a real HTTP server that records every request it reads.
type backend struct {
	name string
	srv  *httptest.Server
	mu   sync.Mutex
	hits []hit
}

// newBackend starts a backend that records each request, reads its body,
// then lets then answer it; a nil then answers 200 with the backend's name.
func newBackend(t *testing.T, name string, then http.HandlerFunc) *backend {
	t.Helper()
	b := &backend{name: name}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.hits = append(b.hits, hit{r.Method, r.URL.Path, r.Host, r.Header.Get("Content-Type"),
			r.Header.Get("Sluice-Budget"), string(body)})
		b.mu.Unlock()
		if then == nil {
			_, _ = io.WriteString(w, name)
			return
		}
		then(w, r)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

// newResetBackend starts a backend that reads each request whole, then drops
// the connection without an answer: the request was sent and maybe processed.
func newResetBackend(t *testing.T, name string) *backend {
	return newBackend(t, name, func(w http.ResponseWriter, r *http.Request) { dropConn(t, w) })
}

// dropConn closes a request's connection without answering.
func dropConn(t *testing.T, w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		t.Error(err)
		return
	}
	_ = conn.Close()
}

func (b *backend) node() *registry.Node {
	return &registry.Node{Service: service, ID: b.name, Address: b.srv.Listener.Addr().String()}
}

func (b *backend) seen() []hit {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]hit(nil), b.hits...)
}

// deadNode returns a node whose port refuses connections: nothing is sent.
func deadNode(t *testing.T, id string) *registry.Node {
	t.Helper()
	return &registry.Node{Service: service, ID: id, Address: refused.Addr(t)}
}

func staticOf(t *testing.T, nodes ...*registry.Node) *registry.Static {
	t.Helper()
	s, err := registry.NewStatic(nodes...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// newClient returns a client over d whose connections close with the test.
func newClient(t *testing.T, d upstream.Discoverer, opts ...upstream.Option) *upstream.Client {
	tr := upstream.NewTransport()
	t.Cleanup(tr.CloseIdleConnections)
	return upstream.New(d, append([]upstream.Option{upstream.WithTransport(tr)}, opts...)...)
}

// inOrder is a Strategy that takes the first untried node in snapshot order,
// so that a test knows which node each attempt reaches.
func inOrder(nodes []*registry.Node) selector.Picker { return orderedPicker(nodes) }

type orderedPicker []*registry.Node

func (p orderedPicker) Pick(info selector.PickInfo) (*registry.Node, error) {
	if len(p) == 0 {
		return nil, selector.ErrNoNodes
	}
next:
	for _, n := range p {
		for _, t := range info.Tried {
			if t.Same(n) {
				continue next
			}
		}
		return n, nil
	}
	return p[0], nil
}

// manualClock is a clock that moves only when the test advances it.
type manualClock struct {
	mu sync.Mutex
	t  time.Time
}

func newManualClock(t time.Time) *manualClock { return &manualClock{t: t} }

func (c *manualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *manualClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// recv waits for a value on ch, failing the test after waitTimeout.
func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitTimeout):
		t.Fatalf("timed out waiting for %s", what)
		var zero T
		return zero
	}
}

func get(t *testing.T, ctx context.Context, path string) *http.Request {
	t.Helper()
	r, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+service+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// readAll reads and closes a response body.
func readAll(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitFor waits for cond, checking it every few milliseconds, and fails the
// test after waitTimeout.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond) // polls a condition; bounded by the deadline
	}
}
