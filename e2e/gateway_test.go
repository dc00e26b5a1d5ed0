package e2e

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestThroughTheGateway(t *testing.T) {
	s := startStack(t)

	t.Run("greeter answers 200", func(t *testing.T) {
		r := get(t, s.gw+"/greet/Ada")
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		var got struct {
			Message string       `json:"message"`
			Budget  budgetReport `json:"budget"`
		}
		r.decode(t, &got)
		if got.Message != "Hello, Ada!" || got.Budget.Hop != 1 {
			t.Fatalf("got %+v", got)
		}
		if got.Budget.ReceivedMs <= 0 || got.Budget.ReceivedMs > 2000 {
			t.Fatalf("greeter received %v ms, want within the route's 2s timeout", got.Budget.ReceivedMs)
		}
	})

	t.Run("each hop receives less budget than the one before", func(t *testing.T) {
		r := get(t, s.gw+"/orders/widget")
		if r.status != http.StatusOK {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		var got chainResponse
		r.decode(t, &got)
		want := []string{"orders", "inventory", "pricing"}
		if len(got.Budgets) != len(want) {
			t.Fatalf("budgets %+v, want one per hop of %v", got.Budgets, want)
		}
		prev := 3000.0 // the route's timeout
		for i, b := range got.Budgets {
			if b.Service != want[i] || b.Hop != i+1 {
				t.Fatalf("hop %d: %+v, want service %s hop %d", i, b, want[i], i+1)
			}
			if !(b.ReceivedMs < prev) {
				t.Fatalf("%s received %v ms, not below the previous hop's %v ms", b.Service, b.ReceivedMs, prev)
			}
			prev = b.ReceivedMs
		}
	})

	t.Run("a 200ms budget with a slow leaf ends in 504 and cancels the leaf", func(t *testing.T) {
		before := s.stats(t)
		r := get(t, s.gw+"/orders/widget?slow=10s", "Sluice-Budget", "ms=200")
		r.wantProblem(t, http.StatusGatewayTimeout, "urn:sluice:problem:budget-spent")
		// About 200ms: the hops behind the gateway, with less budget, give up
		// a little before it; and far from the leaf's 10s.
		if r.elapsed < 150*time.Millisecond || r.elapsed > 5*time.Second {
			t.Fatalf("answered after %v, want about 200ms", r.elapsed)
		}
		after := s.waitStats(t, func(st pricingStats) bool { return st.Cancelled > before.Cancelled })
		if after.Completed != before.Completed {
			t.Fatalf("pricing completed a quote after its budget was spent: %+v -> %+v", before, after)
		}
	})

	t.Run("a budget above max is clamped to max", func(t *testing.T) {
		r := get(t, s.gw+"/orders/widget", "Sluice-Budget", "ms=60000")
		var got chainResponse
		r.decode(t, &got)
		if len(got.Budgets) == 0 || got.Budgets[0].ReceivedMs > 4000 || got.Budgets[0].ReceivedMs < 3000 {
			t.Fatalf("orders received %+v, want the route's max of 4s (allow_raise is on)", got.Budgets)
		}
	})

	t.Run("an untrusted client cannot raise the budget above timeout", func(t *testing.T) {
		r := get(t, s.gw+"/greet/Ada", "Sluice-Budget", "ms=4500")
		var got struct {
			Budget budgetReport `json:"budget"`
		}
		r.decode(t, &got)
		if got.Budget.ReceivedMs > 2000 {
			t.Fatalf("greeter received %v ms, want at most the route's 2s timeout", got.Budget.ReceivedMs)
		}
	})

	t.Run("a budget below min is refused without reaching a backend", func(t *testing.T) {
		before := s.stats(t)
		r := get(t, s.gw+"/orders/widget", "Sluice-Budget", "ms=10")
		r.wantProblem(t, http.StatusGatewayTimeout, "urn:sluice:problem:budget-too-low")
		// A request that did reach the chain after this one proves the
		// counter is live; the refused one must not have moved it.
		if r := get(t, s.gw+"/orders/widget"); r.status != http.StatusOK {
			t.Fatalf("follow-up request: %d %s", r.status, r.body)
		}
		if after := s.stats(t); after.Started != before.Started+1 {
			t.Fatalf("pricing started %d quotes, want exactly 1 (the follow-up)", after.Started-before.Started)
		}
	})

	t.Run("bad input gets a 4xx problem", func(t *testing.T) {
		get(t, s.gw+"/orders/widget", "Sluice-Budget", "ms=-5").wantProblem(t, http.StatusBadRequest, "urn:sluice:problem:bad-request")
		get(t, s.gw+"/orders/widget", "Grpc-Timeout", "1x").wantProblem(t, http.StatusBadRequest, "urn:sluice:problem:bad-request")
		get(t, s.gw+"/nowhere").wantProblem(t, http.StatusNotFound, "urn:sluice:problem:no-route")
		get(t, s.gw+"/orders/widget?slow=soon").wantProblem(t, http.StatusBadRequest, "about:blank")
	})

	t.Run("grpc-timeout asks for a budget too", func(t *testing.T) {
		r := get(t, s.gw+"/orders/widget", "Grpc-Timeout", "900m")
		var got chainResponse
		r.decode(t, &got)
		if len(got.Budgets) == 0 || got.Budgets[0].ReceivedMs > 900 {
			t.Fatalf("orders received %+v, want at most 900ms", got.Budgets)
		}
	})
}

func TestSIGTERMDrainsInFlightRequests(t *testing.T) {
	s := startStack(t)
	before := s.stats(t)
	var wg sync.WaitGroup
	var r response
	wg.Go(func() { r = get(t, s.gw+"/orders/widget?slow=500ms") })
	s.waitStats(t, func(st pricingStats) bool { return st.Started > before.Started })
	s.gateway.signal(syscall.SIGTERM)
	wg.Wait()
	if r.status != http.StatusOK {
		t.Fatalf("in-flight request during drain: %d %s", r.status, r.body)
	}
	if err := s.gateway.wait(); err != nil {
		t.Fatalf("gateway exited with %v, want a clean exit", err)
	}
}

// A second signal ends a drain at once: the process dies by the signal
// instead of waiting out the grace for a request that would hold it.
func TestSecondSIGTERMEndsTheDrain(t *testing.T) {
	s := startStack(t)
	before := s.stats(t)
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodGet, s.gw+"/orders/widget?slow=20s", nil)
		req.Header.Set("Sluice-Budget", "ms=25000")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		done <- err
	}()
	s.waitStats(t, func(st pricingStats) bool { return st.Started > before.Started })
	s.gateway.signal(syscall.SIGTERM)
	s.gateway.waitLog(hasMsg("draining"))
	s.gateway.signal(syscall.SIGTERM)
	err := s.gateway.wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) {
		t.Fatalf("gateway exited with %v, want death by SIGTERM", err)
	}
	if ws, ok := exit.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
		t.Fatalf("gateway exited with %v, want death by SIGTERM (the drain waited instead)", err)
	}
	if err := <-done; err == nil {
		t.Fatal("the slow request was answered whole: the drain was not cut short")
	}
}

func TestReloadKeepsServingOnBadConfig(t *testing.T) {
	s := startStack(t)
	// Replaced whole, as deploy tools and editors do: a read while
	// os.WriteFile writes in place can see the file empty, and the
	// refusal would be of that.
	tmp := s.configFile + ".new"
	writeFile(t, tmp, "routes:\n  - path: /x\n    timeout: 5\n")
	if err := os.Rename(tmp, s.configFile); err != nil {
		t.Fatal(err)
	}
	s.gateway.signal(syscall.SIGHUP)
	l := s.gateway.waitLog(hasMsg("configuration reload failed"))
	msg, _ := l["error"].(string)
	if !strings.Contains(msg, "gateway.yaml:3:5") {
		t.Fatalf("reload error %q does not name file:line:column", msg)
	}
	if r := get(t, s.gw+"/greet/Ada"); r.status != http.StatusOK {
		t.Fatalf("after a failed reload: %d %s", r.status, r.body)
	}
}

func TestClientDisconnectCancelsTheChain(t *testing.T) {
	s := startStack(t)
	before := s.stats(t)
	req, err := http.NewRequest(http.MethodGet, s.gw+"/orders/widget?slow=20s", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Sluice-Budget", "ms=4000")
	ctx, cancel := context.WithCancel(context.Background())
	req = req.WithContext(ctx)
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	// Leave once the leaf is at work: the whole chain must stop with us.
	s.waitStats(t, func(st pricingStats) bool { return st.Started > before.Started })
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the request succeeded although its client left")
	}
	after := s.waitStats(t, func(st pricingStats) bool { return st.Cancelled > before.Cancelled })
	if after.Completed != before.Completed {
		t.Fatalf("pricing completed work for a client that left: %+v -> %+v", before, after)
	}
	s.gateway.waitLog(func(l map[string]any) bool {
		return l["msg"] == "request" && l["path"] == "/orders/widget" && l["status"] == float64(499)
	})
}
