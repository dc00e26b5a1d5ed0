package load

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// Request is what a load sends for one tick.
type Request struct {
	Method string
	// Path follows the load's base URL: "/work/g7".
	Path string
	// ID names the request in a test's checks (a POST's entry in a
	// backend's write log, say); it is not sent.
	ID string
	// Header is added to the request.
	Header http.Header
}

// Hit is one request of a load and what came back.
type Hit struct {
	Request
	Start, End time.Time
	// Sent is when the request's head was written to its connection: the
	// gateway's clock for it starts about then, where Start also counts
	// the client's own wait for a connection. Zero when it was not sent.
	Sent time.Time
	// Status is the answer's status; 0 when none came.
	Status int
	// Retry and RetryAfter are the answer's Sluice-Retry and Retry-After
	// fields.
	Retry, RetryAfter string
	// Node, Retries and Type are what Config.Decode read from the body:
	// the node that answered a success, the retries the gateway spent
	// before it, and the problem type of a failure.
	Node    string
	Retries int
	Type    string
	// Err is a transport failure, a body that could not be read, or what
	// Config.Decode returned.
	Err error
}

// OK reports a success answered by a node.
func (h Hit) OK() bool { return h.Err == nil && h.Status == http.StatusOK && h.Node != "" }

// String implements fmt.Stringer.
func (h Hit) String() string {
	at := h.Start.Format("15:04:05.000")
	if h.Err != nil {
		return fmt.Sprintf("%s %s at %s: %v", h.Method, h.Path, at, h.Err)
	}
	return fmt.Sprintf("%s %s at %s (%s): %d %s from %q (retries %d, Sluice-Retry %q)", h.Method, h.Path, at,
		h.End.Sub(h.Start).Round(time.Millisecond), h.Status, h.Type, h.Node, h.Retries, h.Retry)
}

// Between returns the hits that started in [from, to).
func Between(hs []Hit, from, to time.Time) []Hit {
	return started(hs, func(at time.Time) bool { return !at.Before(from) && at.Before(to) })
}

// Since returns the hits that started at or after from.
func Since(hs []Hit, from time.Time) []Hit {
	return started(hs, func(at time.Time) bool { return !at.Before(from) })
}

// started returns the hits whose start in accepts.
func started(hs []Hit, in func(time.Time) bool) []Hit {
	var out []Hit
	for _, h := range hs {
		if in(h.Start) {
			out = append(out, h)
		}
	}
	return out
}

// LogFailures logs up to ten of the hits, for a failing goal.
func LogFailures(t testing.TB, failed []Hit) {
	t.Helper()
	for i, h := range failed {
		if i == 10 {
			t.Logf("... and %d more", len(failed)-i)
			return
		}
		t.Logf("failed: %s", h)
	}
}
