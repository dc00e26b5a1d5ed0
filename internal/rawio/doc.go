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
// peer reset fails with EPIPE without raising SIGPIPE; reads use recv(2),
// which on a connected socket is read(2) without the layers every file's
// read goes through (recv).
//
// # What it pays, measured
//
// bench/load.sh, one run, the gateway pinned to one core, against the same
// gateway built without this package (BASE=, the raw peek of upstream/h1
// removed too): 85 µs of CPU per request at 2,000 requests/s with it, 126
// without (33 % less; the issue that asked for the measure kept it if it
// paid 5 %), and 57 against 60 µs at saturation (4 %), where the process
// never goes idle and sysmon never sleeps.
//
// # The invariant it relies on
//
// A raw call must never block, or it would hold its thread with the
// scheduler unaware: so Conn calls recv and send only through
// syscall.RawConn's Read and Write, on a descriptor the runtime's poller
// owns and keeps non-blocking, and returns EAGAIN to the poller, which
// parks the goroutine as net.Conn does. The kernel touches no Go memory but
// the buffer passed, which the caller owns for the call, so the race
// detector's blindness to the raw call hides nothing: the buffer's reads
// and writes are the caller's, before and after, in its goroutine. A
// descriptor that is not a *net.TCPConn (TLS, a test's pipe) is left to
// net.Conn.
//
// # Exchange
//
// A client that reuses a pooled connection checks it (a peek), sends the
// request, and reads the answer: made as Write then Read, the read usually
// comes before the answer and returns EAGAIN, one system call for nothing,
// and the check is a wait on the poller of its own. Conn.Exchange makes the
// three in one syscall.RawConn.Read: the peek and the send right after the
// poller is reset for reading, then the wait, then one read. See
// exchange.go.
//
// Elsewhere than on Linux, Wrap returns the connection unchanged, and no
// connection is an Exchanger.
package rawio
