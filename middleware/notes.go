package middleware

import (
	"time"
)

// notes are what the layers below the access log learn about a request and
// the access log and the metrics report: which route served it, the budget
// it was granted, and its upstream attempts.
type notes struct {
	route, service string
	node           string // the node of the last attempt
	attempts       int
	granted        time.Duration
	deadline       time.Time
	trace          string // the gateway's own trace of the request, when it made one
}

// NoteRoute records the route that matched the request and the service it
// forwards to. It implements router.Annotator; the router calls it before
// the route's edge policies run, so a request they refuse is counted
// under its route too.
func (r *Recorder) NoteRoute(name, service string) {
	r.notes.route, r.notes.service = name, service
}

// NoteBudget records the budget the edge granted the request and the
// deadline it set. It implements router.Annotator.
func (r *Recorder) NoteBudget(granted time.Duration, deadline time.Time) {
	r.notes.granted, r.notes.deadline = granted, deadline
}

// NoteTrace records the id of the trace the gateway's own span of the
// request is in (package tracing's Route notes it), which the access log
// reports instead of the client's: with tracing.client_context link the
// two differ, and the log must lead to the gateway's trace.
func (r *Recorder) NoteTrace(id string) { r.notes.trace = id }

// NoteAttempt records an upstream attempt of the request, to node (its
// address).
func (r *Recorder) NoteAttempt(node string) {
	r.notes.node = node
	r.notes.attempts++
}

// Route returns the name of the route that served the request, or "" when
// none matched.
func (r *Recorder) Route() string { return r.notes.route }

// Service returns the service the request's route forwards to, or "".
func (r *Recorder) Service() string { return r.notes.service }

// Node returns the address of the node of the request's last upstream
// attempt, or "".
func (r *Recorder) Node() string { return r.notes.node }

// Attempts returns how many upstream attempts the request made.
func (r *Recorder) Attempts() int { return r.notes.attempts }

// Budget returns the budget the edge granted the request and its deadline;
// zero values when none was granted (no route, or a refusal before it).
func (r *Recorder) Budget() (granted time.Duration, deadline time.Time) {
	return r.notes.granted, r.notes.deadline
}
