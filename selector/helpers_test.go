package selector_test

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
	"sync"

	"github.com/sluicehq/sluice/registry"
)

// seeded returns a deterministic source: the counts drawn from it are the
// same on every run and machine.
func seeded() rand.Source { return rand.NewPCG(1, 2) }

// draws is a source that returns chosen values in turn, for tests that
// decide each draw. It is safe for concurrent use.
type draws struct {
	mu   sync.Mutex
	vals []uint64
	i    int
}

func (d *draws) Uint64() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	v := d.vals[d.i%len(d.vals)]
	d.i++
	return v
}

// index returns the value that makes a draw of an index in [0, n) come out
// as k: the smallest x with ⌊x·n/2⁶⁴⌋ = k, plus one.
func index(k, n uint64) uint64 {
	q, _ := bits.Div64(k, 0, n)
	return q + 1
}

// versioned returns nodes of service svc with the given versions, in order.
func versioned(versions ...string) []*registry.Node {
	out := make([]*registry.Node, len(versions))
	for i, v := range versions {
		out[i] = &registry.Node{Service: "svc", ID: fmt.Sprintf("v%d", i),
			Address: fmt.Sprintf("10.1.0.%d:80", i+1), Version: v}
	}
	return out
}

// repeat returns n copies of v.
func repeat(v string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = v
	}
	return out
}

// share returns the fraction of picks that went to nodes accepted by f.
func share(counts map[*registry.Node]int, total int, f func(*registry.Node) bool) float64 {
	k := 0
	for n, c := range counts {
		if f(n) {
			k += c
		}
	}
	return float64(k) / float64(total)
}
