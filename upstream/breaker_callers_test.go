package upstream

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
)

// callerBreakers returns breakers with the defaults.
func callerBreakers(clk *fakeClock) *Breakers { return NewBreakers(BreakerSettings{Now: clk.now}) }

// callFor runs one call through b's breaker of svc made for the client at
// addr, ending with o after a fault on every node of three when it is one.
func callFor(b *Breakers, addr string, o Outcome) error {
	tk, err := b.admit("svc", netip.MustParseAddr(addr))
	if err != nil {
		return err
	}
	if o.Fault() {
		for _, id := range []string{"a", "b", "c"} {
			tk.nodeFault(testNode(id), time.Time{})
		}
	}
	tk.done(o, 3, time.Time{})
	return nil
}

// TestOneCallerCannotOpenTheBreaker: a client that sends, 50 times a
// second, a request every node fails, beside ten clients whose calls
// succeed once a second each, never has the others refused: the failures
// are its own. Without the caller rule, the breaker opened once the window
// held 20 calls (83 % of calls failed, on every node).
func TestOneCallerCannotOpenTheBreaker(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	b := callerBreakers(clk)
	for tick := range 300 { // 30 s in steps of 100 ms
		clk.advance(100 * time.Millisecond)
		for range 5 {
			if err := callFor(b, "203.0.113.66", Failed); err != nil {
				t.Fatalf("after %s: the poisoning client's call refused: %v", time.Duration(tick)*100*time.Millisecond, err)
			}
		}
		if tick%10 == 0 {
			for i := range 10 {
				addr := netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)}).String()
				if err := callFor(b, addr, Success); err != nil {
					t.Fatalf("after %s: %s refused: %v", time.Duration(tick)*100*time.Millisecond, addr, err)
				}
			}
		}
	}
	st := b.States()[0]
	if st.State != "closed" || st.HeaviestCaller != "203.0.113.66" || st.HeaviestCallerFaults < 400 {
		t.Errorf("breaker %+v, want closed, naming the poisoning client with its 500 faults of the window", st)
	}
}

// TestEveryCallerFailingOpensTheBreaker: when the service fails every
// caller, the big one and the small ones, the breaker opens as it would
// for one caller; and it does for one caller alone.
func TestEveryCallerFailingOpensTheBreaker(t *testing.T) {
	for _, tc := range []struct {
		name  string
		every int // every this many ticks of 100 ms, other callers call
		calls int // this many, one each
	}{
		{"one caller", 0, 0},
		{"a big caller and small ones", 5, 1}, // 2 calls a second, against 50
		{"callers alike", 1, 5},               // 50 a second, against 50
	} {
		clk := &fakeClock{t: time.Unix(1000, 0)}
		b := callerBreakers(clk)
		opened := time.Duration(0)
		for tick := 1; tick <= 100 && opened == 0; tick++ {
			clk.advance(100 * time.Millisecond)
			calls := []string{"203.0.113.66", "203.0.113.66", "203.0.113.66", "203.0.113.66", "203.0.113.66"}
			if tc.every > 0 && tick%tc.every == 0 {
				for i := range tc.calls {
					calls = append(calls, netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)}).String())
				}
			}
			for _, addr := range calls {
				var open *CircuitOpenError
				if err := callFor(b, addr, Failed); errors.As(err, &open) {
					opened = time.Duration(tick) * 100 * time.Millisecond
					break
				}
			}
		}
		if opened == 0 {
			t.Errorf("%s: every call failed for 10 s and the breaker stayed closed", tc.name)
		} else if opened > 3*time.Second {
			t.Errorf("%s: the breaker opened after %s, want within 3 s", tc.name, opened)
		}
	}
}

// TestSliceCallersCountsTheHeaviest: the counters keep the caller with
// most of a slice's faults, short by no more than the faults the others
// could not be counted for.
func TestSliceCallersCountsTheHeaviest(t *testing.T) {
	var s sliceCallers
	top := netip.MustParseAddr("203.0.113.66")
	others := 0
	for i := range 200 {
		if i%4 == 3 { // a quarter of the faults, each from another caller
			s.fault(netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}))
			others++
			continue
		}
		s.fault(top)
	}
	for _, h := range s.heavy {
		if h.caller == top {
			if h.faults < 150-others || h.faults > 150 {
				t.Errorf("the top caller counted %d faults, want 150 less at most %d", h.faults, others)
			}
			return
		}
	}
	t.Errorf("the top caller is not among %+v", s.heavy)
}

// TestTheCallerIsTheBudgetsWithoutWithCaller: a client without WithCaller
// (a backend's) makes a call for the caller its request's budget names, as
// the gateway named it in Sluice-Budget; WithCaller's answer comes first;
// a call whose budget names none, or that has no budget, is the nameless
// caller's.
func TestTheCallerIsTheBudgetsWithoutWithCaller(t *testing.T) {
	named := netip.MustParseAddr("203.0.113.7")
	req := func(info *budget.Info) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "http://svc/", nil)
		if info != nil {
			ctx, cancel := budget.NewContext(r.Context(), *info)
			t.Cleanup(cancel)
			r = r.WithContext(ctx)
		}
		return r
	}
	withCaller := &Client{}
	WithCaller(func(*http.Request) netip.Addr { return netip.MustParseAddr("198.51.100.1") })(withCaller)
	for _, tc := range []struct {
		name string
		c    *Client
		r    *http.Request
		want netip.Addr
	}{
		{"named by the budget", &Client{}, req(&budget.Info{Deadline: time.Now().Add(time.Second), Caller: named}), named},
		{"a budget naming none", &Client{}, req(&budget.Info{Deadline: time.Now().Add(time.Second)}), netip.Addr{}},
		{"no budget", &Client{}, req(nil), netip.Addr{}},
		{"WithCaller first", withCaller, req(&budget.Info{Deadline: time.Now().Add(time.Second), Caller: named}), netip.MustParseAddr("198.51.100.1")},
	} {
		if got := tc.c.caller(tc.r); got != tc.want {
			t.Errorf("%s: caller %v, want %v", tc.name, got, tc.want)
		}
	}
}
