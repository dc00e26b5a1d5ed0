package chaos

import (
	"fmt"
	"os"
	"time"
)

// form is how long and how hard the scenarios run. The goals they assert are
// the same in both forms; only durations, counts and rates differ.
type form struct {
	name string

	// rate is the load of most scenarios, in requests a second.
	rate int
	// kills is how many SIGKILLs the kill scenarios make, one every
	// killEvery; the killed node starts again restartAfter its kill.
	kills                   int
	killEvery, restartAfter time.Duration
	// readds is how many kill-and-restart cycles the readd scenario makes.
	readds int
	// outage is how long Consul is down.
	outage time.Duration
	// hang is how long a node is SIGSTOPped.
	hang time.Duration
	// window is how long the slow, brownout and tight-client scenarios
	// measure once the fault is in place.
	window time.Duration
	// chainRate and chainWindow drive the 3-hop brownout.
	chainRate   int
	chainWindow time.Duration
	// overload is how long the 3× overload lasts.
	overload time.Duration
}

// cfg is the form this run uses, set by TestMain.
var cfg form

// short runs in CI: on two loaded cores the whole suite takes a few minutes.
var short = form{
	name: "short", rate: 150,
	kills: 2, killEvery: 10 * time.Second, restartAfter: 5 * time.Second,
	readds: 1, outage: 10 * time.Second, hang: 15 * time.Second, window: 8 * time.Second,
	chainRate: 150, chainWindow: 10 * time.Second, overload: 12 * time.Second,
}

// full is the issue's: 300 req/s, five kills, 30 s of Consul outage and of a
// stopped node.
var full = form{
	name: "full", rate: 300,
	kills: 5, killEvery: 10 * time.Second, restartAfter: 5 * time.Second,
	readds: 3, outage: 30 * time.Second, hang: 30 * time.Second, window: 30 * time.Second,
	chainRate: 300, chainWindow: 10 * time.Second, overload: 30 * time.Second,
}

// formFromEnv reads SLUICE_CHAOS: empty or "short", or "full".
func formFromEnv() (form, error) {
	switch v := os.Getenv("SLUICE_CHAOS"); v {
	case "", "short":
		return short, nil
	case "full":
		return full, nil
	default:
		return form{}, fmt.Errorf("SLUICE_CHAOS=%q: want short or full", v)
	}
}
