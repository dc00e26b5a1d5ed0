package server

import (
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Deadlines are set on the socket only when a read or a write needs them.
//
// Setting a deadline is not free: the runtime's poller takes a lock and adds,
// moves or deletes a timer. A connection that set and cleared its deadlines
// around every request (an idle one, a header one, cleared; the handler's
// write deadline, set and cleared, as the gateway's routes do; cleared again
// at the request's end) paid six of them per kept-alive request, three with
// a handler that sets none (TestDeadlineCallsPerRequest counts them: none
// now). Yet most of those deadlines
// never bound anything: the whole request head comes in the first read, and
// a small answer goes out in one write after the handler cleared its
// deadline. So each direction of the connection keeps the deadline it wants
// (want) apart from the one the socket has (set), and the two are made
// equal just before the socket is read or written, or at once when a read or
// write is under way, which a deadline set from another goroutine must bound
// as it would with net/http. A deadline set and cleared with no write in
// between costs nothing, and a stale one (the idle deadline while a body is
// read, say) never bounds a read, because every read first puts the wanted
// deadline in its place.
//
// The server's own read deadlines, per kept-alive request, are then:
//   - the idle deadline, kept on the socket while it is within a grain
//     (IdleTimeout/64, at most a second) after the one wanted, so that a
//     busy connection sets it about once per grain (see idleGrain);
//   - the header deadline, wanted only when the request head did not come
//     whole with its first bytes, i.e. when it comes in pieces;
//   - none while the handler runs, wanted once the head was read, and set
//     only if the handler or the watch reads the socket.
//
// Measured with BenchmarkServeKeepAlive, 40 interleaved runs each of the
// code before and after on a loaded 2-core machine (medians): the process's
// CPU per request (cpu-ns/op, the raw client's included) went from 32.0 to
// 25.3 µs with the gateway's limits and a write deadline around the write
// (sluice-gateway), and from 28.5 to 25.5 µs with no limits and no deadline
// (sluice, which saves the watch's timer work only: see watch.go). The wall
// time per request, dominated by the machine's load, did not change
// measurably.
//
// A handler's write deadline may also be an idle timeout (setIdle, which
// response.SetWriteIdleTimeout offers): each write to the socket then runs
// under a deadline that long from its start, read off the clock before it.
// A proxy copying an answer write by write wants that; setting an absolute
// deadline before each of its writes read the clock every time, though
// most writes, and every write of a small answer, go to the buffer alone.

// A write deadline may also fall back to one of its own (fallBackTo, the
// Server's WriteIdleTimeout) when none is wanted: each write then runs under
// a deadline of about that long from its start, kept on the socket while it
// is within a grain (idleGrain) either side of the one due, so that a busy
// connection sets it about once per grain. It bounds the writes that no
// handler's deadline bounds: an answer's end flushed after its handler
// returned, which a client reading nothing held for ever once the socket's
// buffers were full.

// deadline is the read or the write deadline of one connection.
type deadline struct {
	rwc   net.Conn
	write bool // the write deadline; else the read deadline

	mu   sync.Mutex // held while the socket's deadline is set, and for want, set and idle
	want time.Time  // the deadline the next read (write) must run under
	set  time.Time  // the deadline the socket has
	// idle, when positive, makes each read (write) want a deadline idle
	// after its start, read on now (see setIdle); want is then stale for
	// good, so that begin renews it. Only the write deadline has a now.
	idle time.Duration
	now  func() time.Time
	// fallback, when positive, bounds the writes while no deadline is
	// wanted and idle is not set (fallBackTo); want stays zero, and stale
	// for good, so that begin looks at the clock.
	fallback time.Duration

	// state is the number of reads (writes) under way, shifted left by one,
	// with dlStale set while want and set differ.
	state atomic.Uint32
}

const (
	dlStale = 1
	dlUser  = 2 // one read or write under way
)

// Set makes t the deadline: at once when a read (write) is under way,
// else before the next one. The error is the socket's, when it was set now;
// a socket that refuses a deadline later fails the read (write) itself.
func (d *deadline) Set(t time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.want, d.idle = t, 0
	return d.changedLocked()
}

// setIdle makes every read (write) from now on, the one under way
// included, run under a deadline of idle from its start, until Set,
// setWithin or setNow; zero or less clears it, and the deadline with it.
// The clock is read only when a read (write) happens: a deadline set and
// cleared around writes the buffer takes whole reads it not at all.
func (d *deadline) setIdle(idle time.Duration) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if idle <= 0 {
		d.want, d.idle = time.Time{}, 0
		return d.changedLocked()
	}
	d.idle = idle
	if d.state.Or(dlStale) >= dlUser {
		d.want = d.now().Add(idle)
		return d.putLocked()
	}
	return nil
}

// fallBackTo makes each write that no deadline wanted bounds run under one
// of about fallback from its start; zero or less, none. It is called before
// the connection's first write.
func (d *deadline) fallBackTo(fallback time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.fallback = max(fallback, 0)
	d.changedLocked()
}

// fallingBack reports whether the writes run under the fallback deadline.
func (d *deadline) fallingBack() bool {
	return d.fallback > 0 && d.idle <= 0 && d.want.IsZero()
}

// putFallbackLocked puts the fallback deadline on the socket, unless the
// socket's is within a grain of the one due now.
func (d *deadline) putFallbackLocked() error {
	due := d.now().Add(d.fallback)
	grain := idleGrain(d.fallback)
	if within(d.set, due.Add(-grain), due.Add(grain)) {
		return nil
	}
	due = due.Add(grain)
	err := d.rwc.SetWriteDeadline(due)
	if err == nil {
		d.set = due
	}
	return err
}

// setWithin makes the deadline at least lo and at most lo+grain: it keeps
// the socket's (or, failing that, the one wanted) when it is in that span,
// and wants lo+grain otherwise, so that it stays right for as long as it
// can.
func (d *deadline) setWithin(lo time.Time, grain time.Duration) {
	hi := lo.Add(grain)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.idle = 0
	switch {
	case within(d.set, lo, hi):
		d.want = d.set
	case within(d.want, lo, hi):
	default:
		d.want = hi
	}
	d.changedLocked()
}

// within reports whether the deadline t is set and from lo to hi.
func within(t, lo, hi time.Time) bool {
	return !t.IsZero() && !t.Before(lo) && !t.After(hi)
}

// setNow makes t the socket's deadline before it returns, whether or not a
// read (write) is under way: for a socket that goes where want is not looked
// at.
func (d *deadline) setNow(t time.Time) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.want, d.idle, d.fallback = t, 0, 0
	return d.syncLocked()
}

// changedLocked follows a change of want: it sets the socket's deadline at
// once if a read (write) is under way, or marks it stale.
func (d *deadline) changedLocked() error {
	if d.want == d.set && !d.fallingBack() {
		d.state.And(^uint32(dlStale))
		return nil
	}
	if d.state.Or(dlStale) >= dlUser {
		return d.syncLocked()
	}
	return nil
}

// syncLocked sets the socket's deadline to want.
func (d *deadline) syncLocked() error {
	if d.fallingBack() {
		d.state.Or(dlStale) // stale for good: each write looks at the clock
		return d.putFallbackLocked()
	}
	d.state.And(^uint32(dlStale))
	return d.putLocked()
}

// putLocked sets the socket's deadline to want, leaving state alone.
func (d *deadline) putLocked() error {
	if d.want == d.set {
		return nil
	}
	var err error
	if d.write {
		err = d.rwc.SetWriteDeadline(d.want)
	} else {
		err = d.rwc.SetReadDeadline(d.want)
	}
	if err == nil {
		d.set = d.want
	}
	return err
}

// begin precedes a read (write) of the socket: it sets the wanted deadline
// if the socket's is stale, and counts the read (write) as under way, so
// that Set applies a deadline at once until end.
func (d *deadline) begin() {
	for {
		s := d.state.Load()
		if s&dlStale != 0 {
			d.mu.Lock()
			if d.idle > 0 {
				// Counted under mu, as setIdle counts on; want stays stale.
				d.want = d.now().Add(d.idle)
				d.putLocked() // an error shows in the read (write) itself
				d.state.Add(dlUser)
				d.mu.Unlock()
				return
			}
			if d.fallingBack() {
				d.putFallbackLocked() // an error shows in the write itself
				d.state.Add(dlUser)
				d.mu.Unlock()
				return
			}
			if d.state.Load()&dlStale != 0 {
				d.syncLocked() // an error shows in the read (write) itself
			}
			d.mu.Unlock()
			continue
		}
		if d.state.CompareAndSwap(s, s+dlUser) {
			return
		}
	}
}

// end follows the read (write) begin preceded.
func (d *deadline) end() { d.state.Add(^uint32(dlUser - 1)) }

// passed reports whether the wanted deadline is set and not after now.
func (d *deadline) passed(now time.Time) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return !d.want.IsZero() && !now.Before(d.want)
}

// idleGrain is how much later than IdleTimeout after the wait began an idle
// connection may be closed: the idle deadline is kept while it is within
// this span, so that a busy connection sets it once per grain instead of
// once per request. A 64th of the timeout, at most a second.
func idleGrain(idle time.Duration) time.Duration {
	return min(idle/64, time.Second)
}
