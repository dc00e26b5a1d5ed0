package registry

import (
	"context"
	"testing"
)

// A backend answer that repeats one node in place of another ([x x] after
// [x y]) is a change: the cache must stop serving y. Matching each node of
// the answer against the served set without using it up took [x x] for
// [x y] and kept y, a node the backend had dropped, for as long as the
// answer stood.
func TestAudit2CacheDropsANodeReplacedByADuplicate(t *testing.T) {
	x, y := node("x"), node("yy")
	st, _ := NewStatic(x, y)
	c := newTestCache(t, st)
	if got := mustLookup(t, c, "api"); len(got) != 2 {
		t.Fatalf("Lookup = %v, want x and yy", got)
	}
	st.Set("api", []*Node{x, x})
	snap, _ := st.Watch(context.Background(), "api", 0)
	eventually(t, "cache to see the backend's new index", func() bool { return c.Status()[0].Index == snap.Index })
	for _, n := range mustLookup(t, c, "api") {
		if n.Key() == y.Key() {
			t.Fatalf("the cache still serves %s, which the backend dropped", y)
		}
	}
}

func TestAudit2SameNodesCountsEachNodeOnce(t *testing.T) {
	x, y := node("x"), node("yy")
	for _, tc := range []struct {
		a, b []*Node
		want bool
	}{
		{[]*Node{x, y}, []*Node{y, x}, true},
		{[]*Node{x, y}, []*Node{x, x}, false},
		{[]*Node{x, x}, []*Node{x, y}, false},
	} {
		if got := sameNodes(tc.a, tc.b); got != tc.want {
			t.Errorf("sameNodes(%v, %v) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
