package main

import (
	"syscall"
	"time"
)

// sleep blocks the calling thread for d with nanosleep, which resolves to
// microseconds where Go's timers, on an idle process, resolve to a
// millisecond.
func sleep(d time.Duration) {
	ts := syscall.NsecToTimespec(int64(d))
	for syscall.Nanosleep(&ts, &ts) == syscall.EINTR {
	}
}

// preciseTimers lowers the calling thread's timer slack from the default
// 50 µs to 1 µs (prctl PR_SET_TIMERSLACK); it is best effort.
func preciseTimers() {
	const prSetTimerSlack = 29
	_, _, _ = syscall.RawSyscall(syscall.SYS_PRCTL, prSetTimerSlack, 1000, 0)
}
