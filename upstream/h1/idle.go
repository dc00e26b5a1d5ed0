package h1

import (
	"strconv"
	"strings"
	"time"
)

// How long a connection may have been idle and still carry a request.
//
// A server closes the connections it keeps alive after an idle time of its
// own (Node.js and Apache 5 s, gunicorn 2 s, a Go server its IdleTimeout),
// often shorter than the pool's IdleTimeout. The check before reuse (probe,
// exchange) finds most such connections closed, and another is taken; but
// when the server's close crosses the request on the wire, the request is
// sent and the connection reset, with no answer. A replayable request is
// then sent again on a fresh connection (Transport.RoundTrip); one that is
// not (a POST without an idempotency key) cannot be, since the server may
// have read it, and the client got 502 for a healthy node. Through the
// gateway with the defaults, a few POSTs in a thousand to a server with a
// short idle time failed so.
//
// Such a close comes only to a connection that has been idle for about the
// server's idle time, so two rules keep requests off those:
//
//   - a server that states its idle time (Keep-Alive: timeout=N, as
//     Node.js and Apache do) has its connections retired before it, by
//     keepMargin, for every request;
//   - a request that could not be sent again takes only a connection idle
//     for less than fragileIdle (or what the first rule leaves, if less),
//     and a fresh one otherwise: a dial, where a close could cost the
//     request. Busy pools hand out connections idle for far less.
//
// A server that closes sooner than fragileIdle without saying so is found
// out by its closes: a pooled connection idle for less than fragileIdle
// that its check before reuse finds closed, or that fails a request sent
// on it before any answer, was closed early by its server. For
// earlyCloseMemory after the last such find, a request that could not be
// sent again takes only a fresh connection to that host (earlyClose);
// others reuse them as before. A server that closes every connection right
// after its answer without saying so ("Connection: close" left out: a
// server or proxy that keeps no connection alive) had its closes cross the
// next request sent on a busy pool, and a POST so crossed failed with 502
// may-have-been-processed: through the gateway with the defaults, 2 of
// 12,000 POSTs to three nodes, one of them such, each failure making
// selection shun a healthy node for seconds (it took 144 of them, where
// GETs gave it 3,843); with that node alone, every other POST
// (TestASilentCloserFailsNoPOST).

// fragileIdle is the longest a connection may have been idle to carry a
// request that could not be sent again.
const fragileIdle = time.Second

// earlyCloseMemory is how long a host's early close (see above) is
// remembered after it was last seen.
const earlyCloseMemory = time.Minute

// earlyClose is when a host's server was last found to have closed a
// pooled connection idle for less than fragileIdle; zero: never. Guarded
// by its hostPool's mu.
type earlyClose struct{ seen time.Time }

// note records a connection found closed by its server after idle, at now.
func (e *earlyClose) note(idle time.Duration, now time.Time) {
	if idle < fragileIdle {
		e.seen = now
	}
}

// fragileLimit returns how long a connection may have been idle, at now,
// to carry a request that could not be sent again: fragileIdle, or none
// (only a fresh connection) while an early close is remembered.
func (e *earlyClose) fragileLimit(now time.Time) time.Duration {
	if e.seen.IsZero() || now.Sub(e.seen) >= earlyCloseMemory {
		return fragileIdle
	}
	return 0
}

// maxKeepAlive bounds the timeout a Keep-Alive field may state: beyond it
// the pool's own IdleTimeout governs anyway.
const maxKeepAlive = 24 * time.Hour

// keepAliveTimeout returns the idle time a server states in its answer's
// Keep-Alive fields (timeout=N, in seconds), or zero when none is stated,
// or not as a whole number of seconds from 1.
func keepAliveTimeout(fields []string) time.Duration {
	for _, f := range fields {
		for p := range strings.SplitSeq(f, ",") {
			name, val, ok := strings.Cut(strings.TrimSpace(p), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(name), "timeout") {
				continue
			}
			n, err := strconv.ParseUint(strings.TrimSpace(val), 10, 32)
			if err != nil || n == 0 {
				return 0
			}
			return min(time.Duration(n)*time.Second, maxKeepAlive)
		}
	}
	return 0
}

// keepMargin returns how long a connection whose server keeps connections
// idle for keep (zero: unknown) may be idle and still be reused: keep less
// a second, or half of it when it is 2 s or less, so that a request is
// sent well before the server's close; unbounded when keep is unknown.
func keepMargin(keep time.Duration) time.Duration {
	switch {
	case keep == 0:
		return maxKeepAlive
	case keep <= 2*time.Second:
		return keep / 2
	}
	return keep - time.Second
}
