package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// stack is the gateway in front of greeter and the orders → inventory →
// pricing chain, every one a real process on a loopback port of its own.
type stack struct {
	gateway, pricing *proc
	gw               string // gateway base URL
	pricingURL       string
	configFile       string
}

const gatewayConfig = `
listeners:
  - address: 127.0.0.1:0
shutdown_grace: 20s
registry:
  kind: static
  static:
    - {service: greeter, address: %s}
    - {service: orders,  address: %s}
upstream:
  margin: 1ms
defaults:
  budget: {timeout: 5s}
routes:
  - name: greet
    method: GET
    path: /greet/{name}
    service: greeter
    endpoint: Greeter.Hello
    budget: {timeout: 2s, max: 5s, min: 10ms}
  - name: order
    method: GET
    path: /orders/{item}
    service: orders
    endpoint: Orders.Get
    budget: {timeout: 3s, max: 4s, min: 50ms, allow_raise: true}
`

func startStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{}
	s.pricing = start(t, "pricing", "-listen", "127.0.0.1:0")
	pricing := s.pricing.addr(0)
	inventory := start(t, "inventory", "-listen", "127.0.0.1:0", "-peers", "pricing="+pricing).addr(0)
	orders := start(t, "orders", "-listen", "127.0.0.1:0", "-peers", "inventory="+inventory).addr(0)
	greeter := start(t, "greeter", "-listen", "127.0.0.1:0").addr(0)
	s.pricingURL = "http://" + pricing
	s.configFile = filepath.Join(t.TempDir(), "gateway.yaml")
	writeFile(t, s.configFile, fmt.Sprintf(gatewayConfig, greeter, orders))
	s.gateway = start(t, "gateway", "-config", s.configFile)
	s.gw = "http://" + s.gateway.addr(0)
	return s
}

func writeFile(t *testing.T, name, text string) {
	t.Helper()
	if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// response is what a test reads back from an HTTP call.
type response struct {
	status  int
	header  http.Header
	body    []byte
	elapsed time.Duration
}

func get(t *testing.T, url string, header ...string) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{Timeout: 30 * time.Second}
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading the body: %v", url, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: body, elapsed: time.Since(start)}
}

func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("decoding %s: %v", r.body, err)
	}
}

func (r response) wantProblem(t *testing.T, status int, typ string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("Content-Type %q, want application/problem+json", ct)
	}
	var p struct {
		Type   string `json:"type"`
		Status int    `json:"status"`
	}
	r.decode(t, &p)
	if p.Type != typ || p.Status != status {
		t.Fatalf("problem %+v, want type %s status %d", p, typ, status)
	}
}

type budgetReport struct {
	Service    string  `json:"service"`
	Node       string  `json:"node"`
	ReceivedMs float64 `json:"received_ms"`
	Hop        int     `json:"hop"`
	Retries    int     `json:"retries"`
}

type chainResponse struct {
	Item    string         `json:"item"`
	Price   float64        `json:"price"`
	Budgets []budgetReport `json:"budgets"`
}

type pricingStats struct {
	Started   int64 `json:"started"`
	Completed int64 `json:"completed"`
	Cancelled int64 `json:"cancelled"`
}

func (s *stack) stats(t *testing.T) pricingStats {
	t.Helper()
	var st pricingStats
	get(t, s.pricingURL+"/stats").decode(t, &st)
	return st
}

// waitStats polls pricing's counters until ok accepts them, up to a deadline.
func (s *stack) waitStats(t *testing.T, ok func(pricingStats) bool) pricingStats {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		st := s.stats(t)
		if ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("pricing stats never reached the expected state; last %+v", st)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
