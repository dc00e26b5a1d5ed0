// Package rawio makes a TCP connection's reads and writes without the Go
// scheduler's system-call bookkeeping, which on a mostly idle process costs
// more than the calls themselves.
//
// # Why
//
// A goroutine's read or write on a socket goes through syscall.Syscall,
// which tells the scheduler that the thread may block (entersyscall). When
// every P of the process was idle, the scheduler's monitor thread (sysmon)
// is asleep, and that call wakes it with a futex; woken by a system call,
// sysmon then polls every 20 µs for a millisecond. A gateway at a moderate
// rate goes idle between requests, so each request woke sysmon again: on the
// gateway pinned to one core at 2,000 requests/s, sysmon's thread switched
// in and out about 4 times per request, and the futex alone was 6 % of the
// CPU profile. nginx has nothing of the kind, and it showed in the latency.
//
// The sockets the runtime's poller manages are non-blocking: a read or a
// write returns at once, with data or EAGAIN. Such a call cannot hold the
// thread, so the scheduler does not need to know about it. Conn makes it
// through syscall.RawConn, with syscall.RawSyscall, and waits for readiness
// (and honours deadlines and Close) through the poller as net.Conn does.
//
// Writes use send(2) with MSG_NOSIGNAL, so that a write to a connection the
// peer reset fails with EPIPE without raising SIGPIPE.
//
// Elsewhere than on Linux, Wrap returns the connection unchanged.
package rawio
