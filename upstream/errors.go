package upstream

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"syscall"
	"time"

	"github.com/sluicehq/sluice/budget"

	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/upstream/h1"
)

// NoNodesError reports a service with no node to send to: unknown to
// discovery, or with every node gone. It maps to 503.
type NoNodesError struct {
	Service string
	Err     error
}

// Error implements the error interface.
func (e *NoNodesError) Error() string {
	return "upstream: no nodes for service " + e.Service + ": " + e.Err.Error()
}

// Unwrap returns the error this one wraps, for errors.Is and errors.As.
func (e *NoNodesError) Unwrap() error { return e.Err }

// Problem implements rpc.Problemer.
func (e *NoNodesError) Problem() (int, string, string) {
	return http.StatusServiceUnavailable, problem.TypeNoNodes, "No nodes available"
}

// AttemptError reports a transport failure of the last attempt of a call: no
// answer came back. Sent tells whether the request may have reached the node:
// false means it provably did not (the connection was never made), so the
// call had no effect and is safe to repeat. It maps to 502.
type AttemptError struct {
	Service string
	Node    string
	Sent    bool
	// Attempts counts the attempts the call made.
	Attempts int
	// NoMore is true when this hop has done all the retrying the path
	// should get: the caller is told not to retry (Sluice-Retry: no).
	NoMore bool
	Err    error
}

// RetryAdvice implements rpc.RetryAdvisor: a handler that fails with this
// error tells its own caller "Sluice-Retry: no" when this hop has retried
// already. (Never "not-processed": the handler may have done work before
// its call failed.)
func (e *AttemptError) RetryAdvice() string {
	if e.NoMore {
		return RetryNo
	}
	return ""
}

// Error implements the error interface.
func (e *AttemptError) Error() string {
	what := "sent, no answer"
	if !e.Sent {
		what = "not sent"
	}
	return "upstream: " + e.Service + " at " + e.Node + " (" + what + "): " + e.Err.Error()
}

// Unwrap returns the error this one wraps, for errors.Is and errors.As.
func (e *AttemptError) Unwrap() error { return e.Err }

// Problem implements rpc.Problemer: a failure that provably did not reach the
// service is "not processed", any other "may have been processed".
func (e *AttemptError) Problem() (int, string, string) {
	if !e.Sent {
		return http.StatusBadGateway, problem.TypeNotProcessed, "Upstream not reached; not processed"
	}
	return http.StatusBadGateway, problem.TypeMaybeDone, "Upstream failed; the request may have been processed"
}

// notSent reports whether err proves that a request never left this process:
// the connection could not be made.
func notSent(err error) bool {
	if errors.Is(err, h1.ErrNothingWritten) {
		return true
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// budgetEndError reports an attempt that failed as the call's budget ended,
// or after the caller left. It wraps the context's error (or, when the
// failure came a moment before the context noticed, context.DeadlineExceeded)
// so that rpc.StatusOf answers 504 or 499, and the transport's error.
type budgetEndError struct {
	service, node string
	ctxErr        error // the call context's error, nil when not yet ended
	err           error
}

func (e *budgetEndError) Error() string {
	return "upstream: " + e.service + " at " + e.node + ": " + e.cause().Error() + " (" + e.err.Error() + ")"
}

func (e *budgetEndError) cause() error {
	if e.ctxErr != nil {
		return e.ctxErr
	}
	return context.DeadlineExceeded
}

// Unwrap returns the context's error and the transport's.
func (e *budgetEndError) Unwrap() []error { return []error{e.cause(), e.err} }

// refused reports whether err proves that the node is not there: the
// connection could not be made (refused, unreachable, or its name unknown).
// A connection lost before anything was written to it is not such proof,
// nor is a connect that timed out (ErrConnectTimeout): that node counts a
// fault instead; nor a dial that failed for this process's own reason
// (localFailure).
func refused(err error) bool {
	if err == nil || errors.Is(err, ErrConnectTimeout) || localFailure(err) {
		return false
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	var dns *net.DNSError
	return errors.As(err, &dns)
}

// localFailure reports whether err is a dial that failed for a reason of
// this process's own, not the node's: out of file descriptors (EMFILE,
// ENFILE), socket memory (ENOBUFS, ENOMEM) or ephemeral ports
// (EADDRNOTAVAIL).
func localFailure(err error) bool {
	var op *net.OpError
	if !errors.As(err, &op) || op.Op != "dial" {
		return false
	}
	for _, e := range [...]syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.EADDRNOTAVAIL} {
		if errors.Is(op.Err, e) {
			return true
		}
	}
	return false
}

// LocalError reports a call that failed for a reason of the gateway's own
// (see Local): nothing was sent, and it counts against no node. It maps to
// 503 overloaded with Retry-After, and tells the layers above not to retry
// at once (Sluice-Retry: no): the process is out of a resource, which a
// retry only asks for again.
type LocalError struct {
	Service string
	Err     error
}

// Error implements the error interface.
func (e *LocalError) Error() string {
	return "upstream: " + e.Service + ": out of a local resource: " + e.Err.Error()
}

// Unwrap returns the error this one wraps, for errors.Is and errors.As.
func (e *LocalError) Unwrap() error { return e.Err }

// RetryAdvice implements rpc.RetryAdvisor.
func (e *LocalError) RetryAdvice() string { return RetryNo }

// RetryAfter implements rpc.RetryAfterer.
func (e *LocalError) RetryAfter() time.Duration { return LimitRetryAfter }

// Problem implements rpc.Problemer.
func (e *LocalError) Problem() (int, string, string) {
	return http.StatusServiceUnavailable, problem.TypeOverloaded, "Gateway overloaded"
}

// OverloadedError reports a call refused because every node of its service
// that it could go to had as many requests in flight as its concurrency
// limit (see Limits). Nothing was sent and no budget was spent; it is
// nobody's fault that breakers, ejection or retry budgets should count. It
// maps to 503 with Retry-After, and tells the layers above not to retry at
// once (Sluice-Retry: no): retrying an overload only adds to it.
type OverloadedError struct {
	Service string
	// Share is set when the call was refused because its caller already
	// held its share of the service's nodes while others called too (see
	// Limits), not because every node was at its limit.
	Share bool
}

// Error implements the error interface.
func (e *OverloadedError) Error() string {
	if e.Share {
		return "upstream: service " + e.Service + " overloaded: this caller holds its share of the nodes' concurrency, the rest is kept for other callers"
	}
	return "upstream: service " + e.Service + " overloaded: every node is at its concurrency limit"
}

// RetryAdvice implements rpc.RetryAdvisor.
func (e *OverloadedError) RetryAdvice() string { return RetryNo }

// RetryAfter implements rpc.RetryAfterer.
func (e *OverloadedError) RetryAfter() time.Duration { return LimitRetryAfter }

// Problem implements rpc.Problemer.
func (e *OverloadedError) Problem() (int, string, string) {
	return http.StatusServiceUnavailable, problem.TypeOverloaded, "Service overloaded"
}

// BudgetTooLowError reports a call refused because the budget it had left
// was below the fastest answer (the minimum round trip, see Limits) of every
// node it could go to: it could not have ended in time. Nothing was sent.
// The budget is the caller's choice, so it counts against nobody. It maps to
// 504 budget-too-low, as a node refusing to start on too small a budget
// does, and wraps budget.ErrBelowMinimum.
type BudgetTooLowError struct {
	Service string
	// Left is the budget the call had; Need the least minimum round trip
	// of the nodes.
	Left, Need time.Duration
}

// Error implements the error interface.
func (e *BudgetTooLowError) Error() string {
	return "upstream: service " + e.Service + ": budget left " + e.Left.Round(time.Microsecond).String() +
		" is below its fastest answer " + e.Need.Round(time.Microsecond).String()
}

// Unwrap returns budget.ErrBelowMinimum.
func (e *BudgetTooLowError) Unwrap() error { return budget.ErrBelowMinimum }

// Problem implements rpc.Problemer.
func (e *BudgetTooLowError) Problem() (int, string, string) {
	return http.StatusGatewayTimeout, problem.TypeBudgetTooLow, "Budget below the service's fastest answer"
}

// ErrAnswerTooLarge is the Err of an *AnswerError for an answer larger than
// the client's bound (WithMaxAnswerBytes).
var ErrAnswerTooLarge = errors.New("upstream: answer too large")

// AnswerError reports a 2xx answer that Call could not take: larger than
// the client's bound (Err is ErrAnswerTooLarge, Limit the bound), or not
// one JSON value that decodes into the call's response (Err is the
// decoder's error). The callee answered, buggy or compromised, with nothing
// a caller can use; its handler ran. It maps to 502
// may-have-been-processed, as a call that got no answer does, with no
// detail: what the callee sent is the log's to tell.
type AnswerError struct {
	Service  string
	Endpoint string
	// Limit is the bound the answer exceeded, when it did.
	Limit int64
	Err   error
}

// Error implements the error interface.
func (e *AnswerError) Error() string {
	if errors.Is(e.Err, ErrAnswerTooLarge) {
		return "upstream: the answer of " + e.Service + "." + e.Endpoint + " exceeded " +
			strconv.FormatInt(e.Limit, 10) + " bytes"
	}
	return "upstream: decoding the answer of " + e.Service + "." + e.Endpoint + ": " + e.Err.Error()
}

// Unwrap returns Err.
func (e *AnswerError) Unwrap() error { return e.Err }

// Problem implements rpc.Problemer.
func (e *AnswerError) Problem() (int, string, string) {
	return http.StatusBadGateway, problem.TypeMaybeDone, "Upstream answer unusable; the request was processed"
}
