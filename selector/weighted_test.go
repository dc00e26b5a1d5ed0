package selector_test

import (
	"math"
	"testing"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/selector"
)

// withWeights returns nodes whose Metadata["weight"] are the given texts.
func withWeights(weights ...string) []*registry.Node {
	out := versioned(repeat("1.0.0", len(weights))...)
	for i, w := range weights {
		if w != "-" {
			out[i].Metadata = map[string]string{"weight": w}
		}
	}
	return out
}

func pickCounts(t *testing.T, p selector.Picker, picks int, info selector.PickInfo) map[*registry.Node]int {
	t.Helper()
	counts := map[*registry.Node]int{}
	for range picks {
		n, err := p.Pick(info)
		if err != nil {
			t.Fatal(err)
		}
		counts[n]++
	}
	return counts
}

// TestWeightedIsProportional draws from a seeded source: each node's share
// of 100,000 picks is within 1% of its weight's share (σ ≤ 0.15%).
func TestWeightedIsProportional(t *testing.T) {
	tests := []struct {
		name    string
		weights []string
		want    []float64
	}{
		{"1:2:7", []string{"1", "2", "7"}, []float64{0.1, 0.2, 0.7}},
		{"fractions", []string{"0.5", "0.25", "0.25"}, []float64{0.5, 0.25, 0.25}},
		{"missing is the default", []string{"-", "3"}, []float64{0.25, 0.75}},
		{"zero drains a node", []string{"1", "0", "1"}, []float64{0.5, 0, 0.5}},
		{"invalid is the default", []string{"x", "-2", "NaN", "+Inf", "4"}, []float64{0.125, 0.125, 0.125, 0.125, 0.5}},
		{"all zero: alike", []string{"0", "0"}, []float64{0.5, 0.5}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			all := withWeights(tt.weights...)
			p := selector.Weighted(selector.MetadataWeight("weight", 1), selector.WithSource(seeded()))(all)
			const picks = 100000
			counts := pickCounts(t, p, picks, selector.PickInfo{})
			for i, n := range all {
				got := float64(counts[n]) / picks
				if math.Abs(got-tt.want[i]) > 0.01 || tt.want[i] == 0 && counts[n] != 0 {
					t.Errorf("node %d (weight %s) got %.4f of the picks, want %.2f", i, tt.weights[i], got, tt.want[i])
				}
			}
		})
	}
}

// TestWeightedWeightFunc checks weights that are not positive finite
// numbers: they count as zero.
func TestWeightedWeightFunc(t *testing.T) {
	all := versioned("1.0.0", "1.0.0", "1.0.0", "1.0.0", "1.0.0")
	w := map[*registry.Node]float64{all[0]: math.NaN(), all[1]: math.Inf(1), all[2]: -1, all[3]: 0, all[4]: 2}
	p := selector.Weighted(func(n *registry.Node) float64 { return w[n] }, selector.WithSource(seeded()))(all)
	if counts := pickCounts(t, p, 1000, selector.PickInfo{}); counts[all[4]] != 1000 {
		t.Fatalf("picks %v, want all on the one node of positive weight", counts)
	}
}

// TestWeightedRetries checks that tried nodes are left out and the others
// keep their proportions, even when the tried node carries most weight.
func TestWeightedRetries(t *testing.T) {
	all := withWeights("1", "3", "96")
	p := selector.Weighted(selector.MetadataWeight("weight", 1), selector.WithSource(seeded()))(all)
	const picks = 100000
	counts := pickCounts(t, p, picks, selector.PickInfo{Tried: all[2:]})
	if counts[all[2]] != 0 {
		t.Fatalf("the tried node got %d picks", counts[all[2]])
	}
	if got := float64(counts[all[0]]) / picks; math.Abs(got-0.25) > 0.01 {
		t.Fatalf("after the heavy node was tried, weight 1 of 4 got %.4f", got)
	}

	// Only nodes of weight 0 left untried: one of them, not a tried node.
	drained := withWeights("1", "0")
	p = selector.Weighted(selector.MetadataWeight("weight", 1))(drained)
	if counts := pickCounts(t, p, 100, selector.PickInfo{Tried: drained[:1]}); counts[drained[1]] != 100 {
		t.Fatalf("picks %v, want the untried drained node", counts)
	}
}

func TestMetadataWeight(t *testing.T) {
	f := selector.MetadataWeight("weight", 1)
	tests := []struct {
		meta map[string]string
		want float64
	}{
		{nil, 1},
		{map[string]string{"other": "5"}, 1},
		{map[string]string{"weight": "5"}, 5},
		{map[string]string{"weight": "0.5"}, 0.5},
		{map[string]string{"weight": "0"}, 0},
		{map[string]string{"weight": "-1"}, 1},
		{map[string]string{"weight": "heavy"}, 1},
		{map[string]string{"weight": "Inf"}, 1},
	}
	for _, tt := range tests {
		if got := f(&registry.Node{Metadata: tt.meta}); got != tt.want {
			t.Errorf("MetadataWeight over %v = %v, want %v", tt.meta, got, tt.want)
		}
	}
}
