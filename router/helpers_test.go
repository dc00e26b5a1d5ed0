package router_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/router"
	"github.com/sluicehq/sluice/upstream"
)

// waitLimit bounds every wait on a condition. It is generous on purpose: a
// loaded machine may be slow, and a correct gateway meets the condition long
// before it.
const waitLimit = 10 * time.Second

// captured is what a backend saw of one request.
type captured struct {
	Method     string
	RequestURI string // as sent on the wire: escaped path and query
	Path       string
	RawQuery   string
	Host       string
	Header     http.Header
	Body       []byte
}

// backend is a real HTTP server standing for one service node. It records
// every request it receives and answers with respond, or 200 "ok".
type backend struct {
	srv  *httptest.Server
	hits atomic.Int32
	got  chan captured
}

func newBackend(t *testing.T, respond http.HandlerFunc) *backend {
	t.Helper()
	b := &backend{got: make(chan captured, 64)}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		body, _ := io.ReadAll(r.Body)
		c := captured{
			Method: r.Method, RequestURI: r.RequestURI, Path: r.URL.Path, RawQuery: r.URL.RawQuery,
			Host: r.Host, Header: r.Header.Clone(), Body: body,
		}
		select {
		case b.got <- c:
		default: // tests that send many requests do not read them
		}
		if respond != nil {
			respond(w, r)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(b.srv.Close)
	return b
}

// addr returns the backend's host:port.
func (b *backend) addr() string { return b.srv.Listener.Addr().String() }

// last returns the request the backend received, failing if none came.
func (b *backend) last(t *testing.T) captured {
	t.Helper()
	select {
	case c := <-b.got:
		return c
	case <-time.After(waitLimit):
		t.Fatal("the backend received no request")
		return captured{}
	}
}

// setup is a router over a real upstream.Client over a static registry.
type setup struct {
	nodes []*registry.Node
	opts  router.Options
	copts []upstream.Option
}

// node adds a node of service at addr to the static registry.
func (s *setup) node(service, addr string) *setup {
	s.nodes = append(s.nodes, &registry.Node{Service: service, Address: addr})
	return s
}

// build returns the router of routes, failing the test on error.
func (s *setup) build(t testing.TB, routes ...router.Route) *router.Router {
	t.Helper()
	reg, err := registry.NewStatic(s.nodes...)
	if err != nil {
		t.Fatal(err)
	}
	tr := upstream.NewTransport()
	t.Cleanup(tr.CloseIdleConnections)
	client := upstream.New(reg, append([]upstream.Option{upstream.WithTransport(tr)}, s.copts...)...)
	rt, err := router.New(routes, client, s.opts)
	if err != nil {
		t.Fatalf("router.New: %v", err)
	}
	return rt
}

// fixedClock returns a stopped clock, set a minute ahead of real time, for
// both the router and the client: they agree on "now", so the budget
// arithmetic is exact, while every context deadline they derive (the clock
// plus what is left) lies a minute or more in the real future, beyond any
// stall of a loaded machine.
func fixedClock() func() time.Time {
	now := time.Now().Add(time.Minute)
	return func() time.Time { return now }
}

// serve sends r through h and returns the recorded answer.
func serve(h http.Handler, r *http.Request) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

// problemBody is the JSON of an RFC 9457 answer.
type problemBody struct {
	Type   string `json:"type"`
	Title  string `json:"title"`
	Status int    `json:"status"`
	Detail string `json:"detail"`
}

// wantProblem checks that rec holds a problem answer of status and type.
func wantProblem(t *testing.T, rec *httptest.ResponseRecorder, status int, typ string) problemBody {
	t.Helper()
	if rec.Code != status {
		t.Fatalf("status = %d, want %d; body %s", rec.Code, status, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != problem.ContentType {
		t.Fatalf("Content-Type = %q, want %q", ct, problem.ContentType)
	}
	var p problemBody
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body %q: %v", rec.Body, err)
	}
	if p.Status != status || p.Type != typ {
		t.Fatalf("problem = %+v, want status %d type %s", p, status, typ)
	}
	return p
}

// closedAddr returns a loopback address that nothing listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// arrivalWriter is a ResponseWriter that knows when its request arrived, as
// the gateway's outermost middleware provides.
type arrivalWriter struct {
	*httptest.ResponseRecorder
	at time.Time
}

func (w arrivalWriter) Arrival() time.Time { return w.at }

var _ router.Arrival = arrivalWriter{}
