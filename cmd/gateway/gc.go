package main

import (
	"runtime"
	"runtime/debug"
)

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

// sampleHeap sets whether the runtime samples allocations for the heap
// profile. Go samples one allocation in every 512 KiB by default, and each
// sample walks the allocating goroutine's stack: on the gateway's request
// path, which allocates a few KiB a request, that cost about 0.3 µs of CPU
// a request (about 1 % of its user time) in bench/README.md's profiles
// ("The gap to nginx"). The heap profile is read only through
// /debug/pprof/, which the gateway serves with -pprof alone, so without it
// the sampling buys nothing. With it, the runtime's default stays.
func sampleHeap(on bool) {
	if !on {
		runtime.MemProfileRate = 0
	}
}
