package main

import (
	"runtime"
	"runtime/debug"
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
