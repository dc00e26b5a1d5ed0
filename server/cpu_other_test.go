//go:build !unix

package server

import "time"

// processCPU returns zero where the process's CPU time is not at hand: the
// benchmarks' cpu-ns/op then says nothing.
func processCPU() time.Duration { return 0 }
