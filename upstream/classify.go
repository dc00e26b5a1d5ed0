package upstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/leanctx"
	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/upstream/h1"
)

// RetryHeader is the response field with which a node tells its caller
// whether the request may be retried. Its values:
//
//   - "not-processed": the node did no work for the request; a retry on
//     another node is safe for any method.
//   - "no": do not retry: the node is overloaded, or has already retried
//     the failure further down the chain, so only one layer retries.
//
// docs/budget.md states the rule across hops.
const RetryHeader = "Sluice-Retry"

// Values of RetryHeader.
const (
	RetryNotProcessed = "not-processed"
	RetryNo           = "no"
)

// Outcome is the class of an attempt's result. Ejection, breakers and
// retries all read the same classification, made once per attempt.
type Outcome uint8

const (
	// Success: a 1xx-3xx answer.
	Success Outcome = iota
	// Rejected: a 4xx answer, a business error, or a 508 loop-detected
	// (the request's hop count). Never the node's fault; never retried.
	Rejected
	// NotSent: the request never reached the node (the connection could
	// not be made), or the node answered that it did not process it. The
	// node's fault, but for an answer (declined); safe to retry for any
	// method.
	NotSent
	// Failed: the node was sent the request and failed it: the connection
	// was lost, the attempt's own timeout fired, or it answered 5xx. The
	// node's fault; retried only when the request is idempotent.
	Failed
	// Abandoned: the caller left, or the call's own budget ran out: the
	// attempt failed as the budget ended, or the node answered 504 when
	// the budget was about spent (a node runs out a margin earlier than
	// its caller, so its "budget spent" arrives just before the caller's
	// own end), or answered 504 budget-too-low (it will not start on the
	// budget the call has). The budget is the caller's choice, so this is
	// nobody's fault that a node or the service should pay for; never
	// retried. (But a node that answered nothing at all meanwhile, to
	// anyone, counts a fault towards its ejection: limit_silent.go.)
	Abandoned
	// ClientFault: the attempt failed because of the client's own request,
	// as when reading its body failed (the transport's error carries an
	// error with ClientFault() true). Never counted against the node or
	// the service, never retried, no retry budget spent.
	ClientFault
	// Local: the attempt could not be made for a reason of this process's
	// own: its dial failed for want of a file descriptor, socket memory
	// or an ephemeral port (localFailure). Never the node's fault (a
	// client holding every descriptor of the gateway made every dial fail
	// so, and opened the service's breaker), never counted by breakers,
	// and not retried: a dial to another node would fail alike.
	Local
)

var outcomeNames = [...]string{"success", "rejected", "not-sent", "failed", "abandoned", "client-fault", "local"}

// String implements fmt.Stringer.
func (o Outcome) String() string {
	if int(o) < len(outcomeNames) {
		return outcomeNames[o]
	}
	return "unknown"
}

// Fault reports whether the outcome counts against the node, for ejection
// and breakers.
func (o Outcome) Fault() bool { return o == NotSent || o == Failed }

// declined reports whether an attempt of outcome o and error err was one
// its node answered that it did no work for (Sluice-Retry: not-processed):
// a node that sheds its overload (budget.Inbound) or drains. The request
// goes to another node as one never sent does, but the node is not at
// fault: neither ejection nor the breaker counts it (the call's outcome
// still does, when every attempt was declined).
func declined(o Outcome, err error) bool { return o == NotSent && err == nil }

// clientFaulter is implemented by errors that a client's own request
// caused, such as the router's request body reader's read errors.
type clientFaulter interface{ ClientFault() bool }

// isClientFault reports whether err carries an error the client caused.
func isClientFault(err error) bool {
	var cf clientFaulter
	return errors.As(err, &cf) && cf.ClientFault()
}

// classify returns the outcome of an attempt that returned resp and err,
// under the call's context ctx. left is what was left of the call's budget
// when the attempt ended; a budget with no more than slack left counts as
// spent, as an ended ctx does. now, when not zero, is the reading of
// time.Now that left was computed at, taken once the attempt ended: ctx's
// deadline is judged at it (leanctx.ErrAt), not at one more reading.
func classify(ctx context.Context, now time.Time, resp *http.Response, err error, left, slack time.Duration) Outcome {
	spent := leanctx.ErrAt(ctx, now) != nil || left <= slack
	if err != nil {
		if isClientFault(err) {
			return ClientFault
		}
		if localFailure(err) {
			return Local
		}
		if spent {
			return Abandoned
		}
		if errors.Is(err, context.DeadlineExceeded) {
			return Failed // the attempt's own timeout, inside the budget
		}
		if notSent(err) {
			return NotSent
		}
		return Failed
	}
	switch {
	case resp.StatusCode < 400:
		return Success
	case resp.Header.Get(RetryHeader) == RetryNotProcessed:
		return NotSent
	case resp.StatusCode < 500:
		return Rejected
	case resp.StatusCode == http.StatusLoopDetected:
		// The request's hop count, budget.MaxChain or more, of the caller's
		// making (a loop, or a client that named a hop deep in the chain),
		// refused by the node as it would by any: not the node's fault.
		return Rejected
	case resp.StatusCode == http.StatusGatewayTimeout && spent:
		return Abandoned
	}
	return Failed
}

// classifyBody returns the outcome of an answer whose body failed with err
// while it was read, as classify would that of an attempt failing so: a
// body the node cut (the connection lost, a malformed or short body) is
// Failed, one the caller left or whose budget ended is Abandoned. A body
// that ran past a deadline is Abandoned too: how long a body takes is also
// the pace its reader reads at, which is the caller's, not the node's;
// but one whose read waited for the node past the idle bound of a lifted
// per-try timeout (h1.ErrBodyStalled) is the node's stall, Failed.
func classifyBody(ctx context.Context, now time.Time, err error, left, slack time.Duration) Outcome {
	if errors.Is(err, h1.ErrBodyStalled) {
		return Failed // a read waited for the node past its idle bound: the node's stall
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, context.Canceled) {
		return Abandoned
	}
	return classify(ctx, now, nil, err, left, slack)
}

// unfitAnswer returns an error when resp, the answer to out, is none a
// caller can take: a status outside 100-999 (http.ReadResponse reads "000"
// as 0; no ResponseWriter can write it, WriteHeader panics), or 101
// Switching Protocols to a request that asked to switch to nothing (its
// client would be told the connection now speaks another protocol). Such an
// answer is the node's broken one: the attempt fails, blamed on the node,
// as when its status line does not parse.
func unfitAnswer(out *http.Request, resp *http.Response) error {
	switch {
	case resp.StatusCode < 100 || resp.StatusCode > 999:
		return fmt.Errorf("malformed answer: status %d", resp.StatusCode)
	case resp.StatusCode == http.StatusSwitchingProtocols && !upgrades(out):
		return errors.New("malformed answer: 101 Switching Protocols to a request that asked for no upgrade")
	case resp.StatusCode == http.StatusSwitchingProtocols && !switchesAsAsked(out.Header, resp.Header):
		return fmt.Errorf("malformed answer: 101 Switching Protocols to %q when %q was asked",
			resp.Header.Get("Upgrade"), out.Header.Get("Upgrade"))
	}
	return nil
}

// switchesAsAsked reports whether a 101 answer with header got switches to
// the protocol the request's header asked for: "upgrade" in its Connection
// field and the same Upgrade field, in any case. Any other 101 leaves the
// caller a connection that speaks it does not know what (the router
// refuses it with 502): the node's broken answer, retried elsewhere.
func switchesAsAsked(asked, got http.Header) bool {
	return upgrades(&http.Request{Header: got}) &&
		strings.EqualFold(strings.TrimSpace(got.Get("Upgrade")), strings.TrimSpace(asked.Get("Upgrade")))
}

// retryableStatus reports whether an idempotent request that got status may
// be tried again elsewhere: gateway-class failures, not 500, which is most
// often the application's own deterministic bug.
func retryableStatus(status int) bool {
	return status == http.StatusBadGateway || status == http.StatusServiceUnavailable ||
		status == http.StatusGatewayTimeout
}

// budgetTooLow reports whether resp, a 504 answer, is a problem of type
// budget-too-low: the node refused to start on the budget it was sent,
// below its minimum. It reads the start of the body and puts it back, with
// the way that read ended: a body cut short within its start still fails
// its reader where it was cut, as any other answer's does, instead of
// reading as whole (the client would get a cut problem body as a complete
// answer), and it is no refusal of the node's but a broken answer, its
// fault (Failed).
func budgetTooLow(resp *http.Response) bool {
	if !problem.IsProblem(resp.Header.Get("Content-Type")) {
		return false
	}
	head := make([]byte, 512)
	n, err := 0, error(nil)
	for n < len(head) && err == nil {
		var k int
		k, err = resp.Body.Read(head[n:])
		n += k
	}
	head = head[:n]
	rest := io.Reader(resp.Body)
	switch {
	case err == io.EOF: // the whole body is in head
		rest = endReader{io.EOF}
	case err != nil:
		rest = endReader{err}
	}
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(bytes.NewReader(head), rest), resp.Body}
	return (err == nil || err == io.EOF) && bytes.Contains(head, []byte(`"`+problem.TypeBudgetTooLow+`"`))
}

// endReader is a body's end as its first read met it: io.EOF, or the
// error that cut it.
type endReader struct{ err error }

func (r endReader) Read([]byte) (int, error) { return 0, r.err }
