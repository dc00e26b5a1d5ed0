package main

import (
	"context"
	"log/slog"
	"runtime"
	"runtime/debug"
	"time"

	"github.com/KimMachineGun/automemlimit/memlimit"
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

// memoryRatio is the share of the memory the gateway may use (its
// container's limit, else the machine's memory) that the runtime's soft
// memory limit is set to, leaving the rest to what the runtime does not
// count (the kernel's socket buffers, the binary, fragmentation).
const memoryRatio = 0.9

// memoryRefresh is how often limitMemory reads the limit again: a
// container's can change while it runs.
const memoryRefresh = time.Minute

// limitMemory sets the runtime's soft memory limit (GOMEMLIMIT) to
// memoryRatio of what provider says the process may use, and reads it again
// every memoryRefresh until ctx ends. GOMEMLIMIT set in the environment, or
// AUTOMEMLIMIT=off, leave the runtime's limit alone; AUTOMEMLIMIT=0.8 sets
// another ratio. It returns the limit set.
//
// Why: at defaultGCPercent the heap grows to five times what is live before
// the collector runs, which costs a few MiB when the live heap is the
// gateway's few MiB, but not when it is large: thousands of connections,
// or the request bodies held for a retry (up to limits.max_held_body_bytes,
// 128 MiB), made a live heap of 170 MiB grow past 450 MiB, and a container
// with less memory than that would have killed the gateway, where a
// collection would have freed most of it. With the limit, the collector runs
// as the heap nears it, whatever GOGC says, so the gateway slows down
// under memory pressure instead of dying of it.
func limitMemory(ctx context.Context, logger *slog.Logger, provider memlimit.Provider) (int64, error) {
	return memlimit.Set(memlimit.WithRatio(memoryRatio), memlimit.WithProvider(provider),
		memlimit.WithLogger(logger), memlimit.WithRefreshInterval(ctx, memoryRefresh))
}

// processMemory is what limitMemory takes the process to have: its cgroup's
// memory limit (a container's, v1 or v2), or without one the machine's
// memory.
var processMemory = memlimit.ApplyFallback(memlimit.FromCgroup, memlimit.FromSystem)
