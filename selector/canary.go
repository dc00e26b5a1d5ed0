package selector

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/sluicehq/sluice/registry"
)

// Split sends a fixed share of the picks to the nodes of one version,
// however many nodes it has.
type Split struct {
	// Version selects the nodes: an exact version ("2.1.0"), a prefix
	// ("2.1" for every 2.1.x, pre-releases included) or, for versions that
	// are not semantic, an exact text. See VersionIs.
	Version string
	// Weight is the share of picks, from 0 to 1: 0.05 sends 5%.
	Weight float64
}

// ValidateSplits checks splits for Canary: each names a version, weighs from
// 0 to 1, and no two can match the same node; together they weigh at most 1.
// Configuration calls it at load, so that Canary never sees bad splits.
func ValidateSplits(splits []Split) error {
	var errs []error
	var sum float64
	patterns := make([]pattern, len(splits))
	for i, s := range splits {
		patterns[i] = parsePattern(s.Version)
		switch {
		case s.Version == "":
			errs = append(errs, fmt.Errorf("split %d: no version", i))
		case !(s.Weight >= 0 && s.Weight <= 1): // NaN too
			errs = append(errs, fmt.Errorf("split %d (%s): weight %v is not between 0 and 1", i, s.Version, s.Weight))
		}
		sum += s.Weight
		for j := range i {
			if patterns[j].overlaps(patterns[i]) {
				errs = append(errs, fmt.Errorf("split %d (%s) overlaps split %d (%s)", i, s.Version, j, splits[j].Version))
			}
		}
	}
	if sum > 1+1e-9 {
		errs = append(errs, fmt.Errorf("splits weigh %v together, more than 1", sum))
	}
	if len(errs) > 0 {
		return fmt.Errorf("selector: canary: %w", errors.Join(errs...))
	}
	return nil
}

// Canary returns a Strategy that sends each split's Weight of the picks to
// the nodes its Version matches, and the rest to the nodes no split matches:
// Split{"2.1.0", 0.05} sends 5% of picks to 2.1.0 whether it runs on one
// node or on nine. The nodes are grouped once per snapshot; each group gets
// its own picker from base, which spreads the group's share over its nodes.
//
// A split whose version has no node gives its share to the rest; when no
// node is left for the rest, the splits share everything in proportion to
// their weights (all alike if every weight is 0). A retry whose group has
// no untried node goes to another group. Canary ignores PickInfo.Version:
// wrap it in Pinnable to honour pins.
//
// Canary panics if ValidateSplits rejects splits.
func Canary(splits []Split, base Strategy, opts ...Option) Strategy {
	if err := ValidateSplits(splits); err != nil {
		panic(err)
	}
	o := buildOptions(opts)
	patterns := make([]pattern, len(splits))
	for i, s := range splits {
		patterns[i] = parsePattern(s.Version)
	}
	splits = append([]Split(nil), splits...)
	return func(nodes []*registry.Node) Picker {
		if len(nodes) == 0 {
			return noNodes{}
		}
		groups := make([][]*registry.Node, len(splits)+1) // the rest last
	next:
		for _, n := range nodes {
			for i, p := range patterns {
				if p.match(n.Version) {
					groups[i] = append(groups[i], n)
					continue next
				}
			}
			groups[len(splits)] = append(groups[len(splits)], n)
		}
		weights := make([]float64, len(groups))
		var taken float64
		for i, s := range splits {
			if len(groups[i]) > 0 {
				weights[i] = s.Weight
				taken += s.Weight
			}
		}
		if len(groups[len(splits)]) > 0 {
			weights[len(splits)] = max(1-taken, 0)
		} else if taken == 0 {
			for i := range splits {
				if len(groups[i]) > 0 {
					weights[i] = 1
				}
			}
		}
		if len(groups[len(splits)]) == len(nodes) {
			return base(nodes) // no split has a node
		}
		p := &canary{src: o.src}
		for i, g := range groups {
			if weights[i] > 0 {
				p.total += weights[i]
				p.groups = append(p.groups, canaryGroup{cum: p.total, picker: base(g)})
			}
		}
		return p
	}
}

type canary struct {
	groups []canaryGroup
	total  float64
	src    rand.Source
}

type canaryGroup struct {
	cum    float64 // the weights of this group and those before it
	picker Picker
}

func (p *canary) Pick(info PickInfo) (*registry.Node, error) {
	g := len(p.groups) - 1
	if g > 0 {
		r := float(p.src) * p.total
		for i := range p.groups[:g] {
			if r < p.groups[i].cum {
				g = i
				break
			}
		}
	}
	n, err := p.groups[g].picker.Pick(info)
	if err != nil || len(info.Tried) == 0 || !contains(info.Tried, n) {
		return n, err
	}
	// Every node of the group has been tried: try the other groups.
	for k := 1; k < len(p.groups); k++ {
		other, err := p.groups[(g+k)%len(p.groups)].picker.Pick(info)
		if err == nil && !contains(info.Tried, other) {
			return other, nil
		}
	}
	return n, nil
}

var _ Picker = (*canary)(nil)
