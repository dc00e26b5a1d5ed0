package router

import (
	"errors"
	"net"
	"net/http"
	"os"

	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/rpc"
)

// BodyError is a failure to read a request body that is the client's doing:
// a body that is malformed or cut short (400), one that stopped arriving or
// outlasted the request's budget (408), or one larger than allowed (413).
//
// It is the client's fault, never the backend's: it implements ClientFault,
// which the upstream client reads so that such a failure is not counted by
// breakers, ejection or retry budgets and not retried, and rpc.Problemer, so
// that rpc.StatusOf answers it with its own status.
type BodyError struct {
	// Status is 400, 408 or 413.
	Status int
	// Reason says what went wrong, in words fit for the client.
	Reason string
	// Err is the read error behind it, if any.
	Err error
}

var _ rpc.Problemer = (*BodyError)(nil)

// Error implements error.
func (e *BodyError) Error() string { return "request body: " + e.Reason }

// Unwrap returns the read error behind e.
func (e *BodyError) Unwrap() error { return e.Err }

// ClientFault reports true: the client, not the backend, caused e.
func (e *BodyError) ClientFault() bool { return true }

// Problem implements rpc.Problemer.
func (e *BodyError) Problem() (status int, typ, title string) {
	switch e.Status {
	case http.StatusRequestTimeout:
		return e.Status, problem.TypeBadRequest, "Request body too slow"
	case http.StatusRequestEntityTooLarge:
		return e.Status, problem.TypeBadRequest, "Request body too large"
	}
	return http.StatusBadRequest, problem.TypeBadRequest, "Malformed request body"
}

// classifyReadError turns an error reading a request body into a BodyError.
// budgetBound tells whether the read's deadline was the budget's rather than
// the idle timeout's.
func classifyReadError(err error, budgetBound bool, idle string) *BodyError {
	var be *BodyError
	if errors.As(err, &be) {
		return be
	}
	var ne net.Error
	if errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		if budgetBound {
			return &BodyError{Status: http.StatusRequestTimeout, Err: err,
				Reason: "the request's budget ran out while its body was still arriving"}
		}
		return &BodyError{Status: http.StatusRequestTimeout, Err: err,
			Reason: "no byte of the body arrived for " + idle}
	}
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &BodyError{Status: http.StatusRequestEntityTooLarge, Err: err, Reason: "larger than allowed"}
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		// Its text names the gateway's own addresses: keep it for the log.
		return &BodyError{Status: http.StatusBadRequest, Err: err, Reason: "the connection failed while the body was arriving"}
	}
	return &BodyError{Status: http.StatusBadRequest, Err: err, Reason: "malformed or cut short: " + err.Error()}
}
