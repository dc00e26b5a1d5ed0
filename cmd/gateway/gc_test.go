package main

import (
	"context"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"testing"
)

func TestTuneGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	defer debug.SetGCPercent(prev)
	tuneGC(func(string) string { return "" })
	if got := debug.SetGCPercent(100); got != defaultGCPercent {
		t.Errorf("without GOGC: GC percent %d, want %d", got, defaultGCPercent)
	}
	tuneGC(func(k string) string {
		if k == "GOGC" {
			return "100"
		}
		return ""
	})
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC=100: GC percent %d, want GOGC's 100 kept", got)
	}
}

func TestSampleHeap(t *testing.T) {
	prev := runtime.MemProfileRate
	defer func() { runtime.MemProfileRate = prev }()
	runtime.MemProfileRate = 512 << 10
	sampleHeap(true)
	if runtime.MemProfileRate != 512<<10 {
		t.Errorf("with -pprof: MemProfileRate %d, want the runtime's %d kept", runtime.MemProfileRate, 512<<10)
	}
	sampleHeap(false)
	if runtime.MemProfileRate != 0 {
		t.Errorf("without -pprof: MemProfileRate %d, want 0", runtime.MemProfileRate)
	}
}

// TestLimitMemory: the runtime's soft memory limit becomes 90 % of what the
// provider (the container's limit) says; GOMEMLIMIT in the environment
// leaves it alone.
func TestLimitMemory(t *testing.T) {
	prev := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(prev) })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var limit atomic.Uint64
	limit.Store(1 << 30)
	provider := func() (uint64, error) { return limit.Load(), nil }
	logger, _ := newLogger()

	got, err := limitMemory(ctx, logger, provider)
	ratio := memoryRatio
	want := int64(float64(1<<30) * ratio)
	if err != nil || got != want || debug.SetMemoryLimit(-1) != want {
		t.Fatalf("limit %d (%v), runtime's %d; want %d", got, err, debug.SetMemoryLimit(-1), want)
	}
	cancel() // the refresh stops; its first read is a minute away

	t.Setenv("GOMEMLIMIT", "5GiB")
	debug.SetMemoryLimit(prev)
	limit.Store(2 << 30)
	if got, err := limitMemory(context.Background(), logger, provider); err != nil || got != prev || debug.SetMemoryLimit(-1) != prev {
		t.Fatalf("with GOMEMLIMIT set: limit %d (%v), runtime's %d; want it left at %d", got, err, debug.SetMemoryLimit(-1), prev)
	}
}
