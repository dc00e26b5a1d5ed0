package middleware

import (
	"log/slog"
	"net/http"
	"runtime"
	"sync/atomic"
	"time"
)

// AccessLog returns middleware that logs one structured line per request,
// at the end of it: method, path, status, duration, bytes, remote address,
// the host the request names; and, when known, the route and its service,
// the node of the last upstream attempt and the number of attempts, the
// budget granted and what was left of it at the end (negative when the
// answer ran past it), the request's id
// (the answer's X-Request-Id) and the trace id: the gateway's own trace's
// when it traced the request (Recorder.NoteTrace), else that of the
// request's W3C traceparent field.
// A request whose client went away before the answer is logged with status
// 499. A request whose handler aborted its answer (a panic, such as
// http.ErrAbortHandler, that the server turns into a cut connection) is
// logged too, marked aborted, and the panic goes on. A nil logger logs
// nothing but still installs the Recorder, which the router reads the
// arrival time from. now may be nil for time.Now. Through a JSONHandler
// (as the gateway logs), the line is written by an encoder of its own, the
// bytes slog's JSON handler would write at a third of the work.
func AccessLog(logger *slog.Logger, now func() time.Time) func(http.Handler) http.Handler {
	// With the default clock the line's time is the request's end, read
	// once (Recorder.Ended), instead of one more reading by slog.
	ownClock := now != nil
	if now == nil {
		now = time.Now
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := NewRecorder(w, now())
			rec.now = now
			returned := false
			defer func() {
				// Runs while a panic unwinds, without recovering it: the
				// server still sees it and cuts the connection.
				if !returned {
					logRequest(logger, ownClock, rec, r, true)
				}
			}()
			next.ServeHTTP(rec, r)
			returned = true
			logRequest(logger, ownClock, rec, r, false)
		})
	}
}

func logRequest(logger *slog.Logger, ownClock bool, rec *Recorder, r *http.Request, aborted bool) {
	if logger == nil || !logger.Enabled(r.Context(), slog.LevelInfo) {
		return
	}
	end := rec.Ended()
	line := newAccessLine(rec, r, end, aborted)
	if h, ok := logger.Handler().(*JSONHandler); ok && h.plain {
		// The line's time is its end, as below, or, on a clock of the
		// caller's, the time of writing it, as LogAttrs would take it.
		at := end
		if ownClock {
			at = time.Now()
		}
		h.writeAccess(at, &line)
		return
	}
	var buf [maxAttrs]slog.Attr
	attrs := line.attrs(buf[:0])
	if ownClock {
		logger.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
		return
	}
	// As LogAttrs would, but at the end already read, and with the
	// caller's program counter found once (it is always this line's).
	rd := slog.NewRecord(end, slog.LevelInfo, "request", logRequestPC())
	rd.AddAttrs(attrs...)
	_ = logger.Handler().Handle(r.Context(), rd)
}

// requestPC is the program counter logRequest logs its lines from, for a
// handler that adds the source (slog.HandlerOptions.AddSource).
var requestPC atomic.Uintptr

// logRequestPC returns the program counter of its caller's call, found at
// the first call: the one place that calls it.
func logRequestPC() uintptr {
	if pc := requestPC.Load(); pc != 0 {
		return pc
	}
	var pcs [1]uintptr
	runtime.Callers(2, pcs[:]) // skip runtime.Callers and logRequestPC
	requestPC.Store(pcs[0])
	return pcs[0]
}

// TraceID returns the trace id of h's W3C traceparent field
// (version-traceid-parentid-flags, each lowercase hex), or "" when there is
// none or it is invalid by the recommendation, as OpenTelemetry's
// propagator reads it: version ff, a trace or parent id of all zeros, a
// field past the flags in version 00 (a later version may add fields after
// a '-'), or flags beyond the two version 00 defines. A client's invalid
// traceparent starts no trace at a backend's tracer, so its id names none.
func TraceID(h http.Header) string {
	v := h["Traceparent"]
	if len(v) != 1 {
		return ""
	}
	tp := v[0]
	if len(tp) < 55 || tp[2] != '-' || tp[35] != '-' || tp[52] != '-' ||
		!lowerHex(tp[:2], false) || tp[:2] == "ff" || !lowerHex(tp[53:55], false) ||
		!lowerHex(tp[3:35], true) || !lowerHex(tp[36:52], true) {
		return ""
	}
	if tp[:2] == "00" && (len(tp) != 55 || tp[53] != '0' || tp[54] > '3') {
		return ""
	}
	if len(tp) > 55 && tp[55] != '-' {
		return ""
	}
	return tp[3:35]
}

// lowerHex reports whether s is lowercase hex digits, and, when nonZero,
// not all zeros.
func lowerHex(s string, nonZero bool) bool {
	zero := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
		zero = zero && c == '0'
	}
	return !nonZero || !zero
}
