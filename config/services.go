package config

import (
	"github.com/sluicehq/sluice/registry"
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

// Resolved returns the check as package registry runs it, the fields left
// out at their defaults.
func (h *HealthCheck) Resolved() registry.HealthCheck {
	return registry.HealthCheck{Path: h.Path, Interval: h.Interval, Timeout: h.Timeout,
		UnhealthyThreshold: h.UnhealthyThreshold, HealthyThreshold: h.HealthyThreshold}.WithDefaults()
}

// HealthChecks returns the health checks of the services that have one,
// by service.
func (c *Config) HealthChecks() map[string]registry.HealthCheck {
	out := make(map[string]registry.HealthCheck)
	for name, svc := range c.Services {
		if svc.HealthCheck != nil {
			out[name] = svc.HealthCheck.Resolved()
		}
	}
	return out
}
