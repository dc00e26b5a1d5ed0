package middleware

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/requestid"
)

// accessLine is what one access-log line says, gathered once from the
// request and its Recorder: both ways of writing it (slog's attributes,
// JSONHandler's own encoder) write these fields and no others, so which
// fields a line has is decided here alone.
type accessLine struct {
	method, path, remote string
	host                 string // "" leaves it out
	status               int
	duration             time.Duration
	bytes                int64
	aborted              bool
	route, service       string // route "" leaves both out
	node                 string // with attempts; attempts 0 leaves both out
	attempts             int
	granted, left        time.Duration // granted 0 leaves both out
	requestID            string
	hasRequestID         bool   // false leaves requestID out
	traceID              string // "" leaves it out
}

// newAccessLine gathers the line of r, whose handling ended at end.
func newAccessLine(rec *Recorder, r *http.Request, end time.Time, aborted bool) accessLine {
	status := rec.status
	if r.Context().Err() == context.Canceled {
		status = 499
	}
	n := &rec.notes
	l := accessLine{
		method: r.Method, path: r.URL.Path, remote: r.RemoteAddr, host: r.Host,
		status: status, duration: end.Sub(rec.start), bytes: rec.bytes, aborted: aborted,
	}
	if n.route != "" {
		l.route, l.service = n.route, n.service
	}
	if n.attempts > 0 {
		l.node, l.attempts = n.node, n.attempts
	}
	if n.granted > 0 {
		l.granted, l.left = n.granted, n.deadline.Sub(end)
	}
	if v := rec.Header()[requestid.HeaderName]; len(v) > 0 {
		l.requestID, l.hasRequestID = v[0], true
	}
	l.traceID = n.trace
	if l.traceID == "" {
		l.traceID = TraceID(r.Header)
	}
	return l
}

// maxAttrs is the most attributes a line has: six, host, aborted, and
// eight from the notes and the request's fields (route, service, node,
// attempts, budget granted and left, request id, trace id).
const maxAttrs = 16

// attrs appends the line's attributes to buf, in the order JSONHandler's
// encoder writes them (appendAccessJSON).
func (l *accessLine) attrs(buf []slog.Attr) []slog.Attr {
	buf = append(buf,
		slog.String("method", l.method),
		slog.String("path", l.path),
		slog.Int("status", l.status),
		slog.Duration("duration", l.duration),
		slog.Int64("bytes", l.bytes),
		slog.String("remote", l.remote),
	)
	if l.host != "" {
		buf = append(buf, slog.String("host", l.host))
	}
	if l.aborted {
		buf = append(buf, slog.Bool("aborted", true))
	}
	if l.route != "" {
		buf = append(buf, slog.String("route", l.route), slog.String("service", l.service))
	}
	if l.attempts > 0 {
		buf = append(buf, slog.String("node", l.node), slog.Int("attempts", l.attempts))
	}
	if l.granted > 0 {
		buf = append(buf, slog.Duration("budget_granted", l.granted), slog.Duration("budget_left", l.left))
	}
	if l.hasRequestID {
		buf = append(buf, slog.String("request_id", l.requestID))
	}
	if l.traceID != "" {
		buf = append(buf, slog.String("trace_id", l.traceID))
	}
	return buf
}
