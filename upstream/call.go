package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/rpc"
)

// maxErrorBody bounds how much of a failure's body Call reads.
const maxErrorBody = 64 << 10

// Call invokes endpoint (Service.Method) of service under the RPC convention:
// req is sent as JSON and a 2xx answer, one JSON value of at most the
// client's bound (WithMaxAnswerBytes), is decoded into rsp, which may be
// nil to discard it; an answer over the bound, or one that is not a JSON
// value for rsp, is an *AnswerError. A non-2xx answer is returned as an
// *rpc.Error carrying the node's status and problem; transport failures as *AttemptError, a service
// with no nodes as *NoNodesError, and a spent budget as an error wrapping
// budget.ErrSpent or context.DeadlineExceeded. rpc.StatusOf maps each onto
// the status a handler should answer with.
//
// An endpoint that is not Service.Method (rpc.ValidateEndpoint) is refused
// before anything is sent, with an error wrapping rpc.ErrBadEndpoint, as
// Stream refuses one: its path would be sent as it is, and "../admin",
// "A.B/../../debug" or an escaped "?" would reach another path than an
// endpoint's on the node.
func (c *Client) Call(ctx context.Context, service, endpoint string, req, rsp any) error {
	if err := rpc.ValidateEndpoint(endpoint); err != nil {
		return fmt.Errorf("upstream: call %q: %w", endpoint, err)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("upstream: encoding the request to %s: %w", endpoint, err)
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://placeholder", bytes.NewReader(body))
	if err != nil {
		return err
	}
	hr.URL = &url.URL{Scheme: "http", Host: service, Path: rpc.Path(endpoint)}
	hr.Host = service
	hr.Header.Set("Content-Type", rpc.ContentType)
	hr.Header.Set("Accept", rpc.ContentType)
	resp, err := c.Do(hr)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return c.takeAnswer(resp, service, endpoint, rsp)
	}
	return decodeError(resp)
}

// takeAnswer reads a 2xx answer's body, at most the client's bound of it
// (WithMaxAnswerBytes), and decodes it into rsp, or discards it when rsp
// is nil. A body is one JSON value and then nothing but white space, as
// rpc.Server reads requests (json.Unmarshal of the whole body): a callee is
// a peer like any other, and data after its value is not an answer. The
// bound is what keeps a callee, buggy or compromised, from making its
// caller hold whatever it sends: json.Decoder would buffer the whole value
// first, 2 GiB for a 2 GiB array. An answer over the bound is closed
// unread, which costs its connection; it is an *AnswerError, as is a body
// that does not decode into rsp (502: the callee answered, but nothing a
// caller can take). A discarded answer is drained only up to the bound, so
// that its connection may be reused; a longer one is closed, and the call
// still succeeds: the caller asked for the status only. The attempt
// judged the answer by its status, and a body closed early is not the
// node's failure to it, so neither an oversized nor a malformed answer
// counts against the node, for ejection or its breaker: what the client
// cannot take is the caller's to report (attempt.go, pendingVerdict).
func (c *Client) takeAnswer(resp *http.Response, service, endpoint string, rsp any) error {
	limit := c.maxAnswerBytes()
	if rsp == nil {
		if resp.ContentLength > limit {
			return nil // its connection is lost either way
		}
		_, err := io.Copy(io.Discard, io.LimitReader(resp.Body, limit))
		if err != nil {
			return fmt.Errorf("upstream: reading the answer of %s.%s: %w", service, endpoint, err)
		}
		return nil
	}
	tooLarge := &AnswerError{Service: service, Endpoint: endpoint, Limit: limit, Err: ErrAnswerTooLarge}
	if resp.ContentLength > limit {
		return tooLarge
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	switch {
	case err != nil:
		// The body failed as it arrived: the budget ran out, the caller
		// left, or the node cut it; the error says which to StatusOf.
		return fmt.Errorf("upstream: reading the answer of %s.%s: %w", service, endpoint, err)
	case int64(len(b)) > limit:
		return tooLarge
	}
	if err := json.Unmarshal(b, rsp); err != nil {
		var invalid *json.InvalidUnmarshalError
		if errors.As(err, &invalid) {
			return fmt.Errorf("upstream: decoding the answer of %s.%s: %w", service, endpoint, err) // the caller's rsp
		}
		return &AnswerError{Service: service, Endpoint: endpoint, Err: err}
	}
	return nil
}

// maxAnswerBytes is the client's bound on the answers Call reads.
func (c *Client) maxAnswerBytes() int64 {
	if c.maxAnswer <= 0 {
		return DefaultMaxAnswerBytes
	}
	return c.maxAnswer
}

// decodeError turns a non-2xx answer into an *rpc.Error. A problem body
// gives its fields; another body is the detail of a 4xx (a service's words
// on what was wrong with the request) but not of a 5xx: that is a stack
// trace, a proxy's error page, what a failing server prints, and an
// *rpc.Error's detail is written as it is, so a handler that returned the
// error would pass it on, up to the edge's clients.
func decodeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	e := &rpc.Error{}
	switch {
	case problem.IsProblem(resp.Header.Get("Content-Type")):
		_ = json.Unmarshal(b, e)
	case resp.StatusCode < 500:
		e.Detail = strings.TrimSpace(string(b))
	}
	e.Status = resp.StatusCode
	e.Retry = resp.Header.Get(RetryHeader)
	if e.Title == "" {
		e.Title = http.StatusText(resp.StatusCode)
	}
	return e
}
