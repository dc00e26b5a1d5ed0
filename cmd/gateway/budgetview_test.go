package main

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/metrics"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/requestid"
	"github.com/sluicehq/sluice/upstream"
)

// histogram returns the count and sum of the series of the histogram name
// whose labels include want, in reg.
func histogram(t *testing.T, reg prometheus.Gatherer, name string, want map[string]string) (uint64, float64) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n uint64
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			got := map[string]string{}
			for _, lp := range m.GetLabel() {
				got[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if got[k] != v {
					continue series
				}
			}
			n += m.GetHistogram().GetSampleCount()
			sum += m.GetHistogram().GetSampleSum()
		}
	}
	return n, sum
}

// counter returns the sum of the series of the counter name whose labels
// include want, in reg.
func counter(t *testing.T, reg prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if w, ok := want[lp.GetName()]; ok && w != lp.GetValue() {
					continue series
				}
			}
			v += m.GetCounter().GetValue()
		}
	}
	return v
}

// TestBudgetPerHopMovesWhenABackendSlows runs gateway → a → b, where a and
// b are backends built on the companion packages (budget.Inbound, an
// upstream.Client) exporting package metrics on registries of their own.
// When a is slowed before it calls b, the budget left at a's attempts to b
// (hop 2) falls by about the delay, in a's metrics; when a is slowed past
// the budget, a counts the request as out of budget at hop 1. Along the
// way the gateway's request id reaches b.
func TestBudgetPerHopMovesWhenABackendSlows(t *testing.T) {
	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	mA, mB := metrics.NewUpstream(regA), metrics.NewUpstream(regB)

	var bSaw atomic.Value
	b := httptest.NewServer(budget.Inbound(budget.ServerPolicy{Observe: mB.Inbound})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			bSaw.Store(r.Header.Get(requestid.HeaderName))
			_, _ = w.Write([]byte("b"))
		})))
	t.Cleanup(b.Close)
	disc, err := registry.NewStatic(&registry.Node{Service: "b", Address: b.Listener.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	client := upstream.New(disc, upstream.WithObserver(mA))
	var delay atomic.Int64 // how long a works before calling b; -1: until its budget ends
	a := httptest.NewServer(budget.Inbound(budget.ServerPolicy{Observe: mA.Inbound})(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if d := time.Duration(delay.Load()); d != 0 {
				if d < 0 {
					<-r.Context().Done()
				} else {
					time.Sleep(d) // the work a does before calling b
				}
			}
			req, _ := http.NewRequestWithContext(r.Context(), "GET", "http://b/", nil)
			resp, err := client.Do(req)
			if err != nil {
				w.WriteHeader(http.StatusGatewayTimeout)
				return
			}
			resp.Body.Close()
			w.WriteHeader(resp.StatusCode)
		})))
	t.Cleanup(a.Close)

	cfg, _ := loadFile(t, `listeners: [{address: "127.0.0.1:0"}]
registry:
  static:
    - {service: a, address: "`+a.Listener.Addr().String()+`"}
routes:
  - {name: chain, path: /chain, service: a, budget: {timeout: 2s, min: 10ms}}
# a's deadline runs a margin earlier than the gateway's attempt: a wide one,
# so that a's own deadline, not the gateway's hanging up, ends a's wait
# below however late a loaded machine fires its timer.
upstream: {margin: 300ms}
`)
	g, err := newGateway(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	g.accessLogger = nil
	h := g.handler()
	call := func(budgetField string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("GET", "/chain", nil)
		if budgetField != "" {
			req.Header.Set(budget.HeaderName, budgetField)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	hop2 := map[string]string{"service": "b", "hop": "2"}

	const fast, slowed = 5, 3
	for range fast {
		rec := call("")
		if rec.Code != 200 {
			t.Fatalf("fast chain: %d %s", rec.Code, rec.Body)
		}
		if id := rec.Header().Get(requestid.HeaderName); id == "" || bSaw.Load() != id {
			t.Fatalf("request id: answer %q, b saw %q; want the same, not empty", id, bSaw.Load())
		}
	}
	n1, sum1 := histogram(t, regA, "sluice_budget_remaining_seconds", hop2)
	const work = 600 * time.Millisecond
	delay.Store(int64(work))
	for range slowed {
		if rec := call(""); rec.Code != 200 {
			t.Fatalf("slowed chain: %d %s", rec.Code, rec.Body)
		}
	}
	n2, sum2 := histogram(t, regA, "sluice_budget_remaining_seconds", hop2)
	if n1 != fast || n2 != fast+slowed {
		t.Fatalf("a's attempts to b observed: %d then %d, want %d then %d", n1, n2, fast, fast+slowed)
	}
	before, after := sum1/float64(n1), (sum2-sum1)/float64(n2-n1)
	// After the work, at most 2s - 600ms can be left; before it, nearly
	// 2s less the margin.
	if after > (2*time.Second - work).Seconds() {
		t.Errorf("budget left at hop 2 after a slowed down: %.3fs on average, more than the 1.4s that can be left", after)
	}
	if before-after < work.Seconds()/2 {
		t.Errorf("budget left at hop 2: %.3fs before a slowed down, %.3fs after: it did not move by about %v", before, after, work)
	}
	t.Logf("budget left at hop 2: %.3fs on average, then %.3fs with a's %v of work", before, after, work)

	// The same view at each hop: granted at the gateway, left at its
	// attempts (hop 1), received by a (hop 1) and b (hop 2).
	for _, c := range []struct {
		reg    prometheus.Gatherer
		name   string
		labels map[string]string
	}{
		{g.promReg, "sluice_budget_granted_seconds", map[string]string{"route": "chain"}},
		{g.promReg, "sluice_budget_remaining_seconds", map[string]string{"service": "a", "hop": "1"}},
		{regA, "sluice_budget_received_seconds", map[string]string{"hop": "1"}},
		{regB, "sluice_budget_received_seconds", map[string]string{"hop": "2"}},
	} {
		if n, _ := histogram(t, c.reg, c.name, c.labels); n != fast+slowed {
			t.Errorf("%s%v: %d observations, want %d", c.name, c.labels, n, fast+slowed)
		}
	}

	// a works until its budget ends: it has nothing left to call b with,
	// and counts the request as out of budget at hop 1. a gets 300ms, the
	// gateway waits 600ms; a's 504 arrives within the gateway's slack (twice
	// the margin), so it is not retried.
	delay.Store(-1)
	if rec := call("ms=600"); rec.Code != http.StatusGatewayTimeout {
		t.Errorf("a out of budget: %d, want 504", rec.Code)
	}
	// a counted it before it answered, so before the gateway did.
	hop1 := map[string]string{"hop": "1"}
	if v := counter(t, regA, "sluice_budget_exhausted_total", hop1); v != 1 {
		t.Errorf("a's sluice_budget_exhausted_total{hop=\"1\"} = %v, want 1", v)
	}
	if v := counter(t, regA, "sluice_budget_exhausted_total", nil); v != 1 {
		t.Errorf("a's sluice_budget_exhausted_total = %v in all, want 1 (at hop 1)", v)
	}
}
