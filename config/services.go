package config

import (
	"github.com/sluicehq/sluice/selector"
)

func (s Service) splits() []selector.Split {
	out := make([]selector.Split, len(s.Canary))
	for i, c := range s.Canary {
		out[i] = selector.Split{Version: c.Version, Weight: c.Weight}
	}
	return out
}

// Build returns the selection strategy of service s, built over loads:
// the base strategy, then the metadata requirements, the datacenter
// preference and the canary split around it.
func (s Service) Build(loads *selector.Loads) selector.Strategy {
	var st selector.Strategy
	switch s.Strategy {
	case "round_robin":
		st = selector.RoundRobin
	case "random":
		st = selector.Random
	case "weighted":
		st = selector.Weighted(selector.MetadataWeight("weight", 1))
	default:
		st = selector.LeastLoaded(loads)
	}
	for k, v := range s.Require {
		st = selector.Filter(selector.MetadataEquals(k, v), st)
	}
	if s.PreferDatacenter != "" {
		st = selector.Prefer(selector.InDatacenter(s.PreferDatacenter), st)
	}
	if len(s.Canary) > 0 {
		st = selector.Canary(s.splits(), st)
	}
	return st
}
