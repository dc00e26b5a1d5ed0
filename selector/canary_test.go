package selector_test

import (
	"math"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/selector"
)

// TestCanaryShareIgnoresNodeCounts checks that a 5% split gets 5% ± 1% of
// 20,000 picks (σ = 0.15%) whether the canary runs on one node of ten or
// nine: shares follow the weights, not the node counts.
func TestCanaryShareIgnoresNodeCounts(t *testing.T) {
	tests := []struct {
		name           string
		canary, stable int
	}{
		{"1 canary, 9 stable", 1, 9},
		{"9 canary, 1 stable", 9, 1},
		{"1 canary, 1 stable", 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			all := versioned(append(repeat("2.1.0", tt.canary), repeat("2.0.3", tt.stable)...)...)
			s := selector.Canary([]selector.Split{{Version: "2.1.0", Weight: 0.05}}, selector.RoundRobin,
				selector.WithSource(seeded()))
			const picks = 20000
			counts := pickCounts(t, s(all), picks, selector.PickInfo{})
			got := share(counts, picks, selector.VersionIs("2.1.0"))
			if math.Abs(got-0.05) > 0.01 {
				t.Fatalf("the canary got %.4f of the picks, want 0.05 ± 0.01", got)
			}
			// Within the stable group, round robin spreads evenly.
			for _, n := range all[tt.canary:] {
				if k, want := counts[n], picks*95/100/tt.stable; math.Abs(float64(k-want)) > 0.03*float64(want) {
					t.Errorf("stable node %v got %d picks, want about %d", n, k, want)
				}
			}
		})
	}
}

// TestCanaryShares checks how shares move when groups are missing, and
// several splits and prefixes.
func TestCanaryShares(t *testing.T) {
	tests := []struct {
		name     string
		versions []string
		splits   []selector.Split
		want     map[string]float64 // share by node version
	}{
		{"no canary node: all to the rest", []string{"1.0.0", "1.0.0"},
			[]selector.Split{{"2.0.0", 0.1}}, map[string]float64{"1.0.0": 1}},
		{"only canary nodes: all to them", []string{"2.0.0"},
			[]selector.Split{{"2.0.0", 0.1}}, map[string]float64{"2.0.0": 1}},
		{"two splits", []string{"1.0.0", "2.1.0", "3.0.0-rc.1", "1.0.0"},
			[]selector.Split{{"2.1", 0.1}, {"3", 0.2}}, map[string]float64{"1.0.0": 0.7, "2.1.0": 0.1, "3.0.0-rc.1": 0.2}},
		{"one split missing: its share to the rest", []string{"1.0.0", "3.0.0"},
			[]selector.Split{{"2.1", 0.1}, {"3", 0.2}}, map[string]float64{"1.0.0": 0.8, "3.0.0": 0.2}},
		{"no rest: splits in proportion", []string{"2.1.0", "3.0.0"},
			[]selector.Split{{"2.1", 0.1}, {"3", 0.3}}, map[string]float64{"2.1.0": 0.25, "3.0.0": 0.75}},
		{"no rest, weights 0: alike", []string{"2.1.0", "3.0.0"},
			[]selector.Split{{"2.1", 0}, {"3", 0}}, map[string]float64{"2.1.0": 0.5, "3.0.0": 0.5}},
		{"prefix 2.1 is not 2.10", []string{"2.1.4", "2.10.0", "v2.1.0+b7"},
			[]selector.Split{{"v2.1", 0.5}}, map[string]float64{"2.1.4": 0.25, "v2.1.0+b7": 0.25, "2.10.0": 0.5}},
		{"non-semantic versions match exactly", []string{"blue", "green"},
			[]selector.Split{{"green", 0.1}}, map[string]float64{"blue": 0.9, "green": 0.1}},
		{"weight 0 stops a canary", []string{"1.0.0", "2.0.0"},
			[]selector.Split{{"2", 0}}, map[string]float64{"1.0.0": 1}},
		{"weights of 1 leave the rest nothing", []string{"1.0.0", "2.0.0"},
			[]selector.Split{{"2", 1}}, map[string]float64{"2.0.0": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			all := versioned(tt.versions...)
			p := selector.Canary(tt.splits, selector.RoundRobin, selector.WithSource(seeded()))(all)
			const picks = 20000
			counts := pickCounts(t, p, picks, selector.PickInfo{})
			byVersion := map[string]float64{}
			for n, k := range counts {
				byVersion[n.Version] += float64(k) / picks
			}
			for _, v := range tt.versions {
				if got, want := byVersion[v], tt.want[v]; math.Abs(got-want) > 0.01 || want == 0 && got != 0 {
					t.Errorf("version %s got %.4f of the picks, want %.2f", v, got, want)
				}
			}
		})
	}
}

// TestCanaryRetryLeavesAnExhaustedGroup checks that a retry after the only
// canary node failed goes to a stable node, whichever group it draws.
func TestCanaryRetryLeavesAnExhaustedGroup(t *testing.T) {
	all := versioned("2.1.0", "2.0.0", "2.0.0")
	p := selector.Canary([]selector.Split{{"2.1.0", 0.5}}, selector.RoundRobin, selector.WithSource(seeded()))(all)
	for range 1000 {
		n, err := p.Pick(selector.PickInfo{Tried: all[:1]})
		if err != nil || n == all[0] {
			t.Fatalf("retry after the canary failed picked %v, %v", n, err)
		}
	}
	if n, _ := p.Pick(selector.PickInfo{Tried: all}); n == nil {
		t.Fatal("every node tried: no pick")
	}
}

func TestValidateSplits(t *testing.T) {
	tests := []struct {
		name   string
		splits []selector.Split
		errs   []string // substrings of the error; none when valid
	}{
		{"none", nil, nil},
		{"one", []selector.Split{{"2.1.0", 0.05}}, nil},
		{"disjoint prefixes", []selector.Split{{"2.1", 0.05}, {"2.10", 0.05}, {"3", 0.9}}, nil},
		{"text", []selector.Split{{"green", 1}}, nil},
		{"no version", []selector.Split{{"", 0.1}}, []string{"no version"}},
		{"negative", []selector.Split{{"2", -0.1}}, []string{"not between 0 and 1"}},
		{"percent, not fraction", []selector.Split{{"2", 5}}, []string{"not between 0 and 1", "more than 1"}},
		{"NaN", []selector.Split{{"2", math.NaN()}}, []string{"not between 0 and 1"}},
		{"sum above 1", []selector.Split{{"2", 0.6}, {"3", 0.6}}, []string{"more than 1"}},
		{"overlap", []selector.Split{{"2.1", 0.1}, {"v2.1.3", 0.1}}, []string{"overlaps"}},
		{"same text", []selector.Split{{"green", 0.1}, {"green", 0.1}}, []string{"overlaps"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := selector.ValidateSplits(tt.splits)
			if len(tt.errs) == 0 {
				if err != nil {
					t.Fatalf("ValidateSplits = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatal("ValidateSplits = nil, want an error")
			}
			for _, s := range tt.errs {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not say %q", err, s)
				}
			}
		})
	}
}

func TestCanaryPanicsOnInvalidSplits(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("Canary with splits weighing 1.5 did not panic")
		}
	}()
	selector.Canary([]selector.Split{{"2", 1.5}}, selector.RoundRobin)
}
