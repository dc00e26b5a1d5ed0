package upstream

import (
	"net/netip"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
)

// The first attempt's Sluice-Budget value is written into the call's own
// room, without an allocation, even at its longest; a later attempt's is
// a fresh string, and leaves the first one's as it was: the first
// attempt's request may still be read by its transport.
func TestBudgetFieldKeepsEachAttemptsValue(t *testing.T) {
	longest := budget.Header{Remaining: budget.MaxMillis * time.Millisecond, Hop: budget.MaxHops, Retries: budget.MaxRetries,
		Caller: netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")}
	if n := len(longest.String()); n > budgetText {
		t.Fatalf("the longest value has %d bytes, room for %d", n, budgetText)
	}
	ca := new(callAlloc)
	if allocs := testing.AllocsPerRun(100, func() { ca.budgetField(0, longest) }); allocs != 0 {
		t.Fatalf("first attempt: %v allocations, want 0", allocs)
	}
	first := budget.Header{Remaining: 1500 * time.Millisecond, Hop: 2}
	ca = new(callAlloc)
	v0 := ca.budgetField(0, first)
	v1 := ca.budgetField(1, budget.Header{Remaining: 700 * time.Millisecond, Hop: 2, Retries: 1})
	v2 := ca.budgetField(2, longest)
	if want := first.String(); len(v0) != 1 || v0[0] != want {
		t.Fatalf("first attempt's value %q, want %q", v0, want)
	}
	if v1[0] != "ms=700, hop=2, retry=1" || v2[0] != longest.String() {
		t.Fatalf("later attempts' values %q and %q", v1, v2)
	}
	if &v1[0] == &v0[0] || &v2[0] == &v1[0] {
		t.Fatal("a later attempt reused an earlier one's value slice")
	}
}
