//go:build !unix

package server

import "time"

// processCPU returns zeros where the process's CPU time is not at hand: the
// benchmarks' user-ns/op and cpu-ns/op then say nothing.
func processCPU() (user, all time.Duration) { return 0, 0 }
