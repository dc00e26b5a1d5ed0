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

// TestAuditFlappingNodeKeepsItsEjection: a node that keeps failing, and
// whose health check flaps (a process stalling in GC misses its TTL
// heartbeats, a check that times out under load), leaves discovery and
// comes back, the same instance under the same start mark
// (registry.MetaInstance). Its return forgave its ejection, as if it were
// a new instance, so each flap bought it one more request to fail: with
// discovery changing once a second, a node ejected for up to 30 s was
// tried every other second. A node that comes back with the start mark it
// left with is the instance that was ejected; one with a new mark (or
// without a mark: it cannot be told apart) is still probed at once.
func TestAuditFlappingNodeKeepsItsEjection(t *testing.T) {
	bad := newBackend(t, "bad", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	good := newBackend(t, "good", nil)
	marked := func(b *backend, mark string) *registry.Node {
		n := b.node()
		n.Metadata = map[string]string{registry.MetaInstance: mark}
		return n
	}
	reg := staticOf(t, marked(bad, "a1"), marked(good, "b1"))
	clk := newManualClock(time.Unix(1000, 0))
	c := newClient(t, reg, upstream.WithStrategy(inOrder),
		upstream.WithEjector(selector.NewEjector(selector.EjectSettings{Now: clk.Now})))
	call := func() {
		t.Helper()
		resp, err := c.Do(get(t, context.Background(), "/x"))
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
	}
	for range selector.DefaultEjectFaults {
		call()
	}
	if ej := c.Ejector().Ejections(); len(ej) != 1 {
		t.Fatalf("ejections %v, want the bad node's", ej)
	}
	ejectedAt := len(bad.seen())
	const flaps = 10
	for range flaps {
		reg.Set(service, []*registry.Node{marked(good, "b1")}) // its check fails
		call()
		reg.Set(service, []*registry.Node{marked(bad, "a1"), marked(good, "b1")}) // and passes again
		call()
	}
	if got := len(bad.seen()) - ejectedAt; got != 0 {
		t.Errorf("the ejected node, back %d times under its old start mark within its ejection, got %d requests; want 0",
			flaps, got)
	}
	// A restart (a new mark) is a new instance: probed at once.
	reg.Set(service, []*registry.Node{marked(good, "b1")})
	call()
	reg.Set(service, []*registry.Node{marked(bad, "a2"), marked(good, "b1")})
	before := len(bad.seen())
	call()
	if got := len(bad.seen()) - before; got != 1 {
		t.Errorf("a restarted instance got %d requests, want its probe", got)
	}
}
