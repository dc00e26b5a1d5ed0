package main

import "runtime/debug"

// defaultGCPercent is the gateway's garbage collection target when the
// environment sets no GOGC. A proxy's live heap is small (routes, pools,
// tables) while every request allocates, so at Go's default of 100 the
// collector runs very often for little: at 400, the gateway spent 8 to 10 %
// less CPU per request under load, for about 10 MiB more peak RSS (40
// instead of 30 MiB; bench/README.md, "What the safety and the features
// cost"). GOGC in the environment, including GOGC=100, still decides.
const defaultGCPercent = 400

// tuneGC sets defaultGCPercent unless getenv says GOGC.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
}
