package router_test

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/router"
	"github.com/sluicehq/sluice/upstream"
)

const margin = time.Millisecond

// received returns the budget a backend was sent, failing unless the edge
// started a new path: hop 1, no retries, and no grpc-timeout of the client.
func received(t *testing.T, got captured) time.Duration {
	t.Helper()
	return receivedAt(t, got, 1)
}

// receivedAt is received for a backend that must be sent hop (the client
// named the hop before it).
func receivedAt(t *testing.T, got captured, hop int) time.Duration {
	t.Helper()
	if v := got.Header.Values(budget.GRPCHeaderName); len(v) > 0 {
		t.Errorf("the backend received the client's grpc-timeout %q", v)
	}
	v := got.Header.Values(budget.HeaderName)
	if len(v) != 1 {
		t.Fatalf("the backend received Sluice-Budget %q, want one field", v)
	}
	h, err := budget.Parse(v[0])
	if err != nil {
		t.Fatalf("Sluice-Budget %q: %v", v[0], err)
	}
	if h.Hop != hop || h.Retries != 0 {
		t.Errorf("Sluice-Budget %q, want hop=%d and no retries: the edge continues the hop it is sent, and counts no retry of the client's", v[0], hop)
	}
	return h.Remaining
}

// TestBudgetOrigination runs the router and the client on one stopped clock,
// so that the budget each backend receives is exact: the grant less the
// per-hop margin.
func TestBudgetOrigination(t *testing.T) {
	be := newBackend(t, nil)
	clock := fixedClock()
	s := &setup{opts: router.Options{Now: clock}, copts: []upstream.Option{upstream.WithClock(clock), upstream.WithMargin(margin)}}
	strict := budget.Policy{Timeout: 2 * time.Second, Max: 5 * time.Second, Min: 50 * time.Millisecond}
	raise := strict
	raise.AllowRaise = true
	rt := s.node("svc", be.addr()).build(t,
		router.Route{Method: "GET", Path: "/strict", Service: "svc", Budget: strict},
		router.Route{Method: "GET", Path: "/raise", Service: "svc", Budget: raise},
		router.Route{Method: "GET", Path: "/rpc", Service: "svc", Endpoint: "A.B", Budget: strict},
	)

	tests := []struct {
		name   string
		path   string
		header map[string]string
		want   time.Duration // granted; the backend gets this less the margin
		hop    int           // the hop the client names (0: none)
	}{
		{"no ask: the route's timeout", "/strict", nil, 2 * time.Second, 0},
		{"no ask on an RPC route", "/rpc", nil, 2 * time.Second, 0},
		{"ask below timeout", "/strict", map[string]string{"Sluice-Budget": "ms=1000"}, time.Second, 0},
		{"ask at min", "/strict", map[string]string{"Sluice-Budget": "ms=50"}, 50 * time.Millisecond, 0},
		{"ask above timeout, untrusted", "/strict", map[string]string{"Sluice-Budget": "ms=60000"}, 2 * time.Second, 0},
		{"ask above max, AllowRaise", "/raise", map[string]string{"Sluice-Budget": "ms=60000"}, 5 * time.Second, 0},
		{"ask between timeout and max, AllowRaise", "/raise", map[string]string{"Sluice-Budget": "ms=3000"}, 3 * time.Second, 0},
		{"client hop continued, retry ignored", "/strict", map[string]string{"Sluice-Budget": "ms=1000, hop=9, retry=4"}, time.Second, 9},
		{"grpc-timeout", "/strict", map[string]string{"Grpc-Timeout": "1500m"}, 1500 * time.Millisecond, 0},
		{"grpc-timeout above timeout", "/strict", map[string]string{"Grpc-Timeout": "1H"}, 2 * time.Second, 0},
		{"both: the smaller wins", "/strict", map[string]string{"Sluice-Budget": "ms=1200", "Grpc-Timeout": "900m"}, 900 * time.Millisecond, 0},
		{"both on RPC: the smaller wins", "/rpc", map[string]string{"Sluice-Budget": "ms=700", "Grpc-Timeout": "1S"}, 700 * time.Millisecond, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", tt.path, nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			if rec := serve(rt, req); rec.Code != http.StatusOK {
				t.Fatalf("answer %d %s", rec.Code, rec.Body)
			}
			if got := receivedAt(t, be.last(t), tt.hop+1); got != tt.want-margin {
				t.Errorf("the backend received %v, want %v (granted %v less the margin)", got, tt.want-margin, tt.want)
			}
		})
	}
}

// TestBudgetOriginationRealClock checks the same with the default clocks:
// never more than the route's timeout, and not so much less that the budget
// was charged twice.
func TestBudgetOriginationRealClock(t *testing.T) {
	be := newBackend(t, nil)
	timeout := 10 * time.Second
	rt := (&setup{}).node("svc", be.addr()).build(t,
		router.Route{Method: "GET", Path: "/a", Service: "svc", Budget: budget.Policy{Timeout: timeout}})
	if rec := serve(rt, httptest.NewRequest("GET", "/a", nil)); rec.Code != http.StatusOK {
		t.Fatalf("answer %d %s", rec.Code, rec.Body)
	}
	if got := received(t, be.last(t)); got > timeout-margin || got <= timeout/2 {
		t.Errorf("the backend received %v, want at most %v and well above %v", got, timeout-margin, timeout/2)
	}
}

func TestBudgetRefusals(t *testing.T) {
	be := newBackend(t, nil)
	p := budget.Policy{Timeout: 2 * time.Second, Min: 50 * time.Millisecond}
	rt := (&setup{}).node("svc", be.addr()).build(t,
		router.Route{Method: "GET", Path: "/a", Service: "svc", Budget: p},
		router.Route{Method: "POST", Path: "/rpc", Service: "svc", Endpoint: "A.B", Budget: p})
	tests := []struct {
		name, method, path string
		header             map[string]string
		status             int
		typ                string
	}{
		{"ask below min", "GET", "/a", map[string]string{"Sluice-Budget": "ms=49"}, http.StatusGatewayTimeout, problem.TypeBudgetTooLow},
		{"ask of zero", "GET", "/a", map[string]string{"Sluice-Budget": "ms=0"}, http.StatusGatewayTimeout, problem.TypeBudgetTooLow},
		{"grpc-timeout below min", "GET", "/a", map[string]string{"Grpc-Timeout": "10m"}, http.StatusGatewayTimeout, problem.TypeBudgetTooLow},
		{"one of two below min", "GET", "/a", map[string]string{"Sluice-Budget": "ms=1000", "Grpc-Timeout": "10m"}, http.StatusGatewayTimeout, problem.TypeBudgetTooLow},
		{"RPC ask below min", "POST", "/rpc", map[string]string{"Sluice-Budget": "ms=1"}, http.StatusGatewayTimeout, problem.TypeBudgetTooLow},
		{"malformed Sluice-Budget", "GET", "/a", map[string]string{"Sluice-Budget": "ms=abc"}, http.StatusBadRequest, problem.TypeBadRequest},
		{"Sluice-Budget without ms", "GET", "/a", map[string]string{"Sluice-Budget": "hop=1"}, http.StatusBadRequest, problem.TypeBadRequest},
		{"negative ms", "GET", "/a", map[string]string{"Sluice-Budget": "ms=-5"}, http.StatusBadRequest, problem.TypeBadRequest},
		{"malformed grpc-timeout", "GET", "/a", map[string]string{"Grpc-Timeout": "1x"}, http.StatusBadRequest, problem.TypeBadRequest},
		{"RPC malformed", "POST", "/rpc", map[string]string{"Sluice-Budget": "ms=1,"}, http.StatusBadRequest, problem.TypeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest(tt.method, tt.path, nil)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			wantProblem(t, serve(rt, req), tt.status, tt.typ)
		})
	}
	if n := be.hits.Load(); n != 0 {
		t.Errorf("the backend was called %d times; refused requests must do no work", n)
	}
}

// TestArrivalChargesTheBudget serves through a ResponseWriter that says the
// request began to arrive before routing: the budget counts from then.
func TestArrivalChargesTheBudget(t *testing.T) {
	be := newBackend(t, nil)
	clock := fixedClock()
	var spent []string // the services of the requests refused budget-spent
	s := &setup{opts: router.Options{Now: clock, OnBudgetSpent: func(_ *http.Request, service string) { spent = append(spent, service) }},
		copts: []upstream.Option{upstream.WithClock(clock), upstream.WithMargin(margin)}}
	p := budget.Policy{Timeout: 2 * time.Second, Min: 100 * time.Millisecond}
	rt := s.node("svc", be.addr()).build(t,
		router.Route{Method: "GET", Path: "/a", Service: "svc", Budget: p},
		router.Route{Method: "GET", Path: "/rpc", Service: "svc", Endpoint: "A.B", Budget: p})

	tests := []struct {
		name    string
		path    string
		arrived time.Duration // before now
		ask     string
		want    time.Duration // received by the backend; 0 means refused
	}{
		{"arrived now", "/a", 0, "", 2*time.Second - margin},
		{"arrived 300ms ago", "/a", 300 * time.Millisecond, "", 1700*time.Millisecond - margin},
		{"arrived 300ms ago, RPC", "/rpc", 300 * time.Millisecond, "", 1700*time.Millisecond - margin},
		{"arrived 300ms ago, asked 1s", "/a", 300 * time.Millisecond, "ms=1000", 700*time.Millisecond - margin},
		{"just enough left", "/a", 1900 * time.Millisecond, "", 100*time.Millisecond - margin},
		{"below min left", "/a", 1901 * time.Millisecond, "", 0},
		{"spent", "/a", 3 * time.Second, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, spentBefore := be.hits.Load(), len(spent)
			req := httptest.NewRequest("GET", tt.path, nil)
			if tt.ask != "" {
				req.Header.Set(budget.HeaderName, tt.ask)
			}
			w := arrivalWriter{ResponseRecorder: httptest.NewRecorder(), at: clock().Add(-tt.arrived)}
			rt.ServeHTTP(w, req)
			if tt.want == 0 {
				wantProblem(t, w.ResponseRecorder, http.StatusGatewayTimeout, problem.TypeBudgetSpent)
				if be.hits.Load() != before {
					t.Error("the backend was called with a spent budget")
				}
				if len(spent) != spentBefore+1 || spent[len(spent)-1] != "svc" {
					t.Errorf("OnBudgetSpent heard %v, want svc once more", spent)
				}
				return
			}
			if len(spent) != spentBefore {
				t.Error("OnBudgetSpent told of a request that was forwarded")
			}
			if w.Code != http.StatusOK {
				t.Fatalf("answer %d %s", w.Code, w.Body)
			}
			if got := received(t, be.last(t)); got != tt.want {
				t.Errorf("the backend received %v, want %v", got, tt.want)
			}
		})
	}
}

// hidingWriter wraps a ResponseWriter as a route's middleware may (to
// compress, say): it hides the methods of the one below but Unwrap.
type hidingWriter struct{ w http.ResponseWriter }

func (h hidingWriter) Header() http.Header         { return h.w.Header() }
func (h hidingWriter) Write(p []byte) (int, error) { return h.w.Write(p) }
func (h hidingWriter) WriteHeader(code int)        { h.w.WriteHeader(code) }
func (h hidingWriter) Unwrap() http.ResponseWriter { return h.w }

// TestArrivalFoundBehindAWrapper: the arrival time of the outermost writer
// still charges the budget when a middleware wrapped the writer.
func TestArrivalFoundBehindAWrapper(t *testing.T) {
	be := newBackend(t, nil)
	clock := fixedClock()
	s := &setup{opts: router.Options{Now: clock}, copts: []upstream.Option{upstream.WithClock(clock), upstream.WithMargin(margin)}}
	p := budget.Policy{Timeout: 2 * time.Second, Min: 100 * time.Millisecond}
	rt := s.node("svc", be.addr()).build(t, router.Route{Method: "GET", Path: "/a", Service: "svc", Budget: p})
	w := arrivalWriter{ResponseRecorder: httptest.NewRecorder(), at: clock().Add(-300 * time.Millisecond)}
	rt.ServeHTTP(hidingWriter{hidingWriter{w}}, httptest.NewRequest("GET", "/a", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("answer %d %s", w.Code, w.Body)
	}
	if got, want := received(t, be.last(t)), 1700*time.Millisecond-margin; got != want {
		t.Errorf("the backend received %v, want %v", got, want)
	}
}

// TestALoopIsRefused: a request that names hop budget.MaxChain (it has
// come back to the gateway that many times, through the gateway's own
// nodes) is refused 508 loop-detected, not forwarded once more.
func TestALoopIsRefused(t *testing.T) {
	be := newBackend(t, nil)
	rt := (&setup{}).node("svc", be.addr()).build(t, router.Route{Method: "GET", Path: "/a", Service: "svc", Budget: policy})
	req := httptest.NewRequest("GET", "/a", nil)
	req.Header.Set(budget.HeaderName, "ms=1000, hop=32")
	rec := serve(rt, req)
	if rec.Code != http.StatusLoopDetected || !problem.IsProblem(rec.Header().Get("Content-Type")) {
		t.Fatalf("answer %d %s, want a 508 problem", rec.Code, rec.Body)
	}
	req.Header.Set(budget.HeaderName, "ms=1000, hop=31")
	if rec := serve(rt, req); rec.Code != http.StatusOK {
		t.Fatalf("one hop fewer: answer %d %s, want it forwarded", rec.Code, rec.Body)
	}
	if got := receivedAt(t, be.last(t), 32); got <= 0 {
		t.Errorf("the backend received %v", got)
	}
}
