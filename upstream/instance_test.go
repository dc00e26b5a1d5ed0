package upstream_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/selector"
	"github.com/sluicehq/sluice/upstream"
)

// TestANodeStartedAgainIsProbedAtOnce ejects a failing node, then has it
// come back under the same ID and address without ever leaving discovery,
// as a process that crashed and restarted before its health check failed
// does, but with a new start mark (registry.MetaInstance): it is a new
// instance, and its first call is a probe, not the rest of the ejection.
func TestANodeStartedAgainIsProbedAtOnce(t *testing.T) {
	frozen := time.Unix(1000, 0)
	clock := func() time.Time { return frozen }
	bad := newBackend(t, "bad", status(http.StatusInternalServerError))
	good := newBackend(t, "good", nil)
	started := func(mark string) *registry.Node {
		n := bad.node()
		n.Metadata = map[string]string{registry.MetaInstance: mark}
		return n
	}
	reg := staticOf(t, started("first"), good.node())
	ej := selector.NewEjector(selector.EjectSettings{Now: clock})
	c := newClient(t, reg, upstream.WithEjector(ej), upstream.WithStrategy(inOrder),
		upstream.WithLoads(selector.NewLoads(selector.WithClock(clock))))
	call := func() {
		resp, err := c.Do(get(t, context.Background(), "/"))
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
	}
	for range selector.DefaultEjectFaults {
		call()
	}
	if len(ej.Ejections()) != 1 {
		t.Fatalf("ejections %+v, want the bad node", ej.Ejections())
	}
	before := len(bad.seen())
	reg.Set(service, []*registry.Node{started("first"), good.node()}) // the same start, seen again
	call()
	if n := len(bad.seen()); n != before {
		t.Fatal("an ejected node got a call")
	}
	reg.Set(service, []*registry.Node{started("second"), good.node()}) // started again
	call()
	if n := len(bad.seen()); n != before+1 {
		t.Fatalf("the node that started again got %d calls, want one probe at once", n-before)
	}
}
