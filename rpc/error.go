package rpc

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/internal/problem"
)

// StatusClientClosed is the status logged, after nginx, for a request whose
// client went away before the answer was ready. It is never sent.
const StatusClientClosed = 499

// Error is a failure carried as an RFC 9457 problem body: the error a handler
// returns to answer with a chosen status, and the error Client.Call returns for
// a non-2xx answer.
type Error struct {
	// Status is the HTTP status code. A handler's error with a status outside
	// 400-599 (zero included) is answered as 500.
	Status int `json:"status"`
	// Type is a URI reference naming the kind of problem; empty means
	// "about:blank".
	Type string `json:"type,omitempty"`
	// Title is a short summary of the kind of problem.
	Title string `json:"title,omitempty"`
	// Detail explains this occurrence.
	Detail string `json:"detail,omitempty"`
	// Retry is the Sluice-Retry field of the answer the error came from,
	// when Client.Call made it.
	Retry string `json:"-"`
}

// RetryAdvice implements RetryAdvisor: a handler failing with an error that
// a callee answered "Sluice-Retry: no" passes the "no" on.
func (e *Error) RetryAdvice() string {
	if e != nil && e.Retry == "no" {
		return "no"
	}
	return ""
}

// RetryAdvisor is implemented by errors that tell whether the caller of a
// handler failing with them may retry: "no" sets the Sluice-Retry field of
// the answer (docs/budget.md states the rule across hops).
type RetryAdvisor interface {
	RetryAdvice() string
}

// RetryAfterer is implemented by errors that tell when the caller may try
// again, such as a service refusing calls while overloaded: WriteError sets
// the Retry-After field to it, in whole seconds (at least 1).
type RetryAfterer interface {
	RetryAfter() time.Duration
}

// Errorf returns an *Error with the given status and a detail built as with
// fmt.Sprintf. The title is the status text.
func Errorf(status int, format string, args ...any) *Error {
	return &Error{Status: status, Title: http.StatusText(status), Detail: fmt.Sprintf(format, args...)}
}

// Error implements error. A nil *Error, which a handler returns as a
// non-nil error when it returns a typed nil pointer, reads as an internal
// error, here and in Problem, rather than panic.
func (e *Error) Error() string {
	if e == nil {
		return "rpc: nil *rpc.Error"
	}
	msg := e.Title
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return fmt.Sprintf("rpc: %d %s", e.Status, msg)
}

// Problem implements Problemer.
func (e *Error) Problem() (status int, typ, title string) {
	if e == nil {
		return http.StatusInternalServerError, problem.TypeInternal, "Internal error"
	}
	status = e.Status
	if status < 400 || status > 599 {
		status = http.StatusInternalServerError // not a failure status: 0 would panic in WriteHeader, 2xx would pass as success
	}
	typ = e.Type
	if typ == "" {
		typ = "about:blank"
	}
	return status, typ, e.Title
}

// Problemer is implemented by errors that know how they map onto HTTP: the
// status code, problem type and title to answer with. Errors of the upstream
// package implement it.
type Problemer interface {
	Problem() (status int, typ, title string)
}

// StatusOf maps an error onto the status, problem type and title of the
// answer it deserves. It is the one place where Sluice turns errors into HTTP:
// a Problemer in the chain speaks for itself; a spent budget or a deadline is
// 504; the caller's own cancellation is 499; anything else is 500.
func StatusOf(err error) (status int, typ, title string) {
	var p Problemer
	switch {
	case errors.As(err, &p):
		return p.Problem()
	case errors.Is(err, budget.ErrBelowMinimum):
		return http.StatusGatewayTimeout, problem.TypeBudgetTooLow, "Budget below the minimum"
	case errors.Is(err, budget.ErrSpent), errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout, problem.TypeBudgetSpent, "Budget spent"
	case errors.Is(err, context.Canceled):
		return StatusClientClosed, problem.TypeBudgetSpent, "Client closed request"
	}
	return http.StatusInternalServerError, problem.TypeInternal, "Internal error"
}

// WriteError answers with the problem body that StatusOf chooses for err.
// The detail is an *Error's own Detail, which its author chose for the
// caller, or err's text for other 4xx answers (the caller's own fault, about
// what it sent); any other 5xx says nothing of its cause, which may be
// private (see detailOf).
func WriteError(w http.ResponseWriter, err error) {
	status, typ, title := StatusOf(err)
	detail := detailOf(err, status)
	var ra RetryAdvisor
	if errors.As(err, &ra) {
		if advice := ra.RetryAdvice(); advice != "" {
			w.Header().Set("Sluice-Retry", advice)
		}
	}
	var rt RetryAfterer
	if errors.As(err, &rt) {
		if d := rt.RetryAfter(); d > 0 {
			w.Header().Set("Retry-After", strconv.FormatInt(int64((d+time.Second-1)/time.Second), 10))
		}
	}
	problem.Write(w, status, typ, title, detail)
}

// detailOf is the detail an answer with status gives for err: an *Error's
// own, err's text for a 4xx other than 499, nothing for a 5xx. The text of
// a 5xx that Sluice classified is no less private than an unclassified 500's: the
// upstream client's errors, a handler's call that ran out of budget
// wrapped in its own words, name the service's nodes, their addresses and
// the transport's errors, the network behind the service, which is the
// log's to tell. The gateway's own failures are answered here too, and it
// passes a backend's answer on as it is: either way such a detail reached
// the edge's clients.
func detailOf(err error, status int) string {
	var e *Error
	switch {
	case errors.As(err, &e):
		if e == nil {
			return ""
		}
		return e.Detail
	case status == StatusClientClosed:
		// The caller's context ended: the error is the handler's call
		// failing for it, in the upstream client's words, which name the
		// nodes as a 5xx's would. The answer reaches a caller that only
		// half-closed its connection (net/http cancels on the end of its
		// input), so it must tell no more than a 5xx does.
		return ""
	case status < http.StatusInternalServerError:
		return err.Error()
	}
	return ""
}
