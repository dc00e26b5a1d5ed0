package selector_test

import (
	"math"
	"testing"

	"github.com/sluicehq/sluice/selector"
)

// TestAuditWeightedHugeWeightsKeepTheirProportions: weights are read from
// node metadata (Consul Meta or tags, anyone who registers may set them),
// and each must be a finite number. Two of 1e308 are, but their sum is not:
// the total overflowed to +Inf, every draw landed past the table's end,
// and the last node of positive weight, a node of weight 1, got every
// request while the heavy ones got none.
func TestAuditWeightedHugeWeightsKeepTheirProportions(t *testing.T) {
	for _, tt := range []struct {
		name    string
		weights []string
		want    []float64
	}{
		{"1e308 twice", []string{"1", "1e308", "1e308", "1"}, []float64{0, 0.5, 0.5, 0}},
		{"max float thrice", []string{"1.7976931348623157e308", "1.7976931348623157e308", "1.7976931348623157e308"},
			[]float64{1.0 / 3, 1.0 / 3, 1.0 / 3}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			all := withWeights(tt.weights...)
			p := selector.Weighted(selector.MetadataWeight("weight", 1), selector.WithSource(seeded()))(all)
			const picks = 100000
			counts := pickCounts(t, p, picks, selector.PickInfo{})
			for i, n := range all {
				if got := float64(counts[n]) / picks; math.Abs(got-tt.want[i]) > 0.01 {
					t.Errorf("node %d (weight %s) got %.4f of the picks, want %.2f", i, tt.weights[i], got, tt.want[i])
				}
			}
			// Retries keep to the untried nodes too.
			counts = pickCounts(t, p, 1000, selector.PickInfo{Tried: all[1:2]})
			if counts[all[1]] != 0 {
				t.Errorf("a tried node got %d of 1000 retry picks", counts[all[1]])
			}
		})
	}
}
