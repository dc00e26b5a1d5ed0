package main

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
)

// obsGateway is a gateway with routes that, between them, make every
// metric of the gateway move: a fast service, a service slower than its
// route's budget, a failing service (ejections, breaker, retry budget),
// a rate-limited route and an authenticated one.
func obsGateway(t *testing.T) *gateway {
	t.Helper()
	t.Setenv("SLUICE_TEST_OBS_SECRET", strings.Repeat("s", 32))
	ok := echoBackend(t)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-r.Context().Done() // answers nothing before the budget ends
	}))
	t.Cleanup(slow.Close)
	bad := func() string {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
		}))
		t.Cleanup(srv.Close)
		return srv.Listener.Addr().String()
	}
	cfg, _ := loadFile(t, `listeners: [{address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
registry:
  static:
    - {service: ok, address: "`+ok+`"}
    - {service: slow, address: "`+slow.Listener.Addr().String()+`"}
    - {service: bad, address: "`+bad()+`"}
    - {service: bad, address: "`+bad()+`"}
upstream:
  retry_budget: {ratio: 0.01, floor: 0}
  ejection: {consecutive_faults: 1}
  breaker: {min_calls: 2}
auth:
  jwt:
    users:
      algorithms: [HS256]
      keys: [{hmac_secret_env: SLUICE_TEST_OBS_SECRET}]
routes:
  - {name: ok, path: /ok, service: ok}
  - {name: slow, path: /slow, service: slow, budget: {timeout: 50ms, min: 1ms}}
  - {name: bad, path: /bad, service: bad}
  - {name: limited, path: /limited, service: ok, rate_limit: {rps: 0.001, burst: 1}}
  - {name: private, path: /private, service: ok, auth: users}
  - {name: spent, path: /spent, service: ok, budget: {timeout: 1ms, min: 1ms}}
`)
	g, err := newGateway(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	g.accessLogger = nil
	return g
}

// traffic sends requests that touch every route and outcome.
func traffic(t *testing.T, h http.Handler) {
	t.Helper()
	for _, p := range []string{"/ok", "/ok", "/slow", "/bad", "/bad", "/bad", "/bad", "/limited", "/limited", "/private", "/nowhere"} {
		get(h, p)
	}
}

// scrape returns the admin listener's /metrics.
func scrape(t *testing.T, g *gateway) string {
	t.Helper()
	rec := get(g.adminHandler(), "/metrics")
	if rec.Code != http.StatusOK {
		t.Fatalf("/metrics = %d", rec.Code)
	}
	return rec.Body.String()
}

// TestMetricsLintClean runs the checks of `promtool check metrics` (the
// promlint package it is built on) over the gateway's /metrics after
// traffic that moves every metric: no problem is allowed.
func TestMetricsLintClean(t *testing.T) {
	g := obsGateway(t)
	traffic(t, g.handler())
	problems, err := promlint.New(strings.NewReader(scrape(t, g))).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

// TestRandomPathsKeepSeriesFlat sends 10,000 requests with random paths and
// invented methods: no path and no method becomes a label, so the number of
// series does not grow.
func TestRandomPathsKeepSeriesFlat(t *testing.T) {
	g := obsGateway(t)
	h := g.handler()
	traffic(t, h)
	methods := []string{"GET", "POST", "DELETE", "BREW", "PROPFIND", "X-" + fmt.Sprint(rand.Int())}
	send := func(n int) {
		for i := range n {
			m := methods[i%len(methods)]
			if i%4 == 3 {
				m = fmt.Sprintf("M%X", rand.Uint32()) // a method nobody ever sent
			}
			p := fmt.Sprintf("/r%x/%x", rand.Uint64(), rand.Uint64())
			if i%3 == 0 {
				p = "/ok" // a real route, by odd methods too
			}
			h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(m, p, nil))
		}
	}
	send(len(methods) * 3)
	before := seriesCount(t, g.promReg)
	send(10000)
	if after := seriesCount(t, g.promReg); after != before {
		t.Errorf("sluice_ series: %d after 10,000 random paths, %d before", after, before)
	}
}

func seriesCount(t *testing.T, reg prometheus.Gatherer) int {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, mf := range mfs {
		if strings.HasPrefix(mf.GetName(), "sluice_") {
			n += len(mf.GetMetric())
		}
	}
	return n
}

// families returns the sluice_ metric families of reg, by name, with
// their type and label names (le aside).
func families(t *testing.T, reg prometheus.Gatherer) map[string]familyInfo {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]familyInfo)
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "sluice_") {
			continue
		}
		var labels []string
		if len(mf.GetMetric()) > 0 {
			for _, lp := range mf.GetMetric()[0].GetLabel() {
				labels = append(labels, lp.GetName())
			}
		}
		sort.Strings(labels)
		out[mf.GetName()] = familyInfo{typ: strings.ToLower(mf.GetType().String()), labels: strings.Join(labels, ", "),
			help: mf.GetHelp()}
	}
	return out
}

type familyInfo struct{ typ, labels, help string }

// sampleNames returns the names of the samples of a text exposition.
func sampleNames(text string) map[string]bool {
	names := make(map[string]bool)
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			names[line[:i]] = true
		}
	}
	return names
}

// TestBudgetSpentAtTheEdgeCounts: a request whose budget runs below its
// route's minimum before it is forwarded (a 1 ms budget with a 1 ms
// minimum: the edge's own microseconds spend it) is refused 504 and counted
// out of budget at hop 0.
func TestBudgetSpentAtTheEdgeCounts(t *testing.T) {
	g := obsGateway(t)
	rec := get(g.handler(), "/spent")
	if rec.Code != http.StatusGatewayTimeout || !strings.Contains(rec.Body.String(), "budget-spent") {
		t.Fatalf("/spent = %d %s, want 504 budget-spent", rec.Code, rec.Body)
	}
	if v := counter(t, g.promReg, "sluice_budget_exhausted_total", map[string]string{"hop": "0"}); v != 1 {
		t.Errorf("sluice_budget_exhausted_total{hop=\"0\"} = %v, want 1", v)
	}
}
