package metrics

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/internal/rmap"
	"github.com/sluicehq/sluice/upstream"
)

// The observer's methods are called on every attempt, and a vector's
// WithLabelValues hashes its label values and looks the child up under a
// lock each time. So each service's children are kept here once looked up:
// an attempt then costs one map lookup by service name and an atomic load
// per series, and allocates nothing. Each child is still looked up (made)
// at its first use, never before, so /metrics lists the same series as
// without the cache.

// kinds is how many attempt kinds have a cached series; outcomes how many
// outcomes. Others (none today) go through WithLabelValues.
const (
	kinds    = 3
	outcomes = len(outcomeLabels)
)

// serviceSeries holds the children of one service's per-attempt series.
type serviceSeries struct {
	latency   atomic.Pointer[prometheus.Observer]
	attempts  [outcomes][kinds]atomic.Pointer[prometheus.Counter]
	remaining [MaxHopLabel + 2]atomic.Pointer[prometheus.Observer] // by hop label: 0-7, then "8+"
}

// seriesCache maps a service's name to its *serviceSeries.
type seriesCache struct {
	m rmap.Map[string, *serviceSeries]
}

func (c *seriesCache) of(service string) *serviceSeries {
	if s, ok := c.m.Load(service); ok {
		return s
	}
	s, _ := c.m.LoadOrStore(service, new(serviceSeries))
	return s
}

// child returns the child in p, looking it up with get the first time. Two
// callers racing here both look the same child up.
func child[T any](p *atomic.Pointer[T], get func() T) T {
	if v := p.Load(); v != nil {
		return *v
	}
	v := get()
	p.Store(&v)
	return v
}

// hopIndex returns the index of hop's label in serviceSeries.remaining.
func hopIndex(hop int) int {
	if hop < 0 {
		return 0
	}
	return min(hop, MaxHopLabel+1)
}

// attemptCounter returns the attempts counter of service, whose series
// are s, for outcome o and kind.
func (u *Upstream) attemptCounter(s *serviceSeries, service string, o upstream.Outcome, kind upstream.AttemptKind) prometheus.Counter {
	if int(o) >= outcomes || int(kind) >= kinds {
		return u.attempts.WithLabelValues(service, OutcomeLabel(o), kind.String())
	}
	return child(&s.attempts[o][kind], func() prometheus.Counter {
		return u.attempts.WithLabelValues(service, OutcomeLabel(o), kind.String())
	})
}
