//go:build unix

package server

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time the process used so far: in user space,
// and in all (user and system).
func processCPU() (user, all time.Duration) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, 0
	}
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
