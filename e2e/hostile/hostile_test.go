package hostile

import (
	"sync"
	"testing"
)

// hcase is one case of the suite, run once per listener server.
type hcase struct {
	family string
	name   string
	// alone runs the case before the others and by itself, for cases that
	// read the gateway's process-wide counters.
	alone bool
	run   func(t *testing.T, s *stack)
}

// families lists every case of the suite.
func families() []hcase {
	var all []hcase
	for _, f := range [][]hcase{smugglingCases(), limitCases(), pathCases(), upstreamAnswerCases(),
		slowCases(), breakerCases(), miscCases(), compressCases()} {
		all = append(all, f...)
	}
	return all
}

// TestHostile runs every case against a gateway on each listener server.
// The servers run side by side, and within a server the cases run
// concurrently (in goroutines, not t.Parallel, so that -parallel does not
// serialise cases that spend their time waiting for a timeout), except
// those marked alone, which run first, one at a time. Then the gateway must
// give back every goroutine, file and request the cases made it hold.
func TestHostile(t *testing.T) {
	cases := families()
	onEachServer(t, func(t *testing.T, srv listenerServer) {
		s := newStack(t, srv.name, srv.config)
		before := held(t, s)
		for _, c := range cases {
			if c.alone {
				runCase(t, s, c)
			}
		}
		var cw sync.WaitGroup
		for _, c := range cases {
			if !c.alone {
				cw.Go(func() { runCase(t, s, c) })
			}
		}
		cw.Wait()
		checkReleased(t, s, before)
	})
}

func runCase(t *testing.T, s *stack, c hcase) {
	t.Run(c.family+"/"+c.name, func(t *testing.T) {
		defer func() { tally.add(s.server, c.family, c.name, t.Failed()) }()
		c.run(t, s)
	})
}
