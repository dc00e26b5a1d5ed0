package upstream

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/rpc"
	"github.com/sluicehq/sluice/upstream/h1"
)

// StreamOption configures one stream that Client.Stream opens.
type StreamOption func(*streamConfig)

type streamConfig struct {
	idle       time.Duration
	maxMessage int64
}

// WithStreamIdleTimeout closes the stream, with 1001, when no message went
// either way for d. The default is rpc.DefaultStreamIdleTimeout (60 s).
func WithStreamIdleTimeout(d time.Duration) StreamOption {
	return func(c *streamConfig) { c.idle = d }
}

// WithStreamMaxMessageBytes bounds each message received; a larger one
// closes the stream with 1009. The default is rpc.DefaultMaxBodyBytes.
func WithStreamMaxMessageBytes(n int64) StreamOption {
	return func(c *streamConfig) { c.maxMessage = n }
}

// Stream is an open stream to one node of a service: JSON messages both
// ways over one WebSocket connection (docs/rpc.md, "Streams"). Send and Recv
// may be called concurrently, by one goroutine each or more.
type Stream struct {
	cs   *rpc.ClientStream
	node *registry.Node
}

// Node returns the node the stream is open to.
func (s *Stream) Node() *registry.Node { return s.node }

// Send sends v as one JSON message. ctx bounds the wait for the connection;
// if it ends while the message is being written, the stream is closed,
// since half a message cannot be taken back. Once the server has ended the
// stream, Send fails: Recv tells why.
func (s *Stream) Send(ctx context.Context, v any) error { return s.cs.Send(ctx, v) }

// Recv waits for the next message and decodes it into v. It returns io.EOF
// when the server ended the stream normally, an *rpc.StreamError carrying
// the reason when the handler failed (code 1011) or the stream went idle
// (1001), and ctx's error, leaving the stream open, when ctx ends first.
func (s *Stream) Recv(ctx context.Context, v any) error { return s.cs.Recv(ctx, v) }

// Close ends the stream with 1000 and waits, a few seconds at most, for the
// server to answer. Later calls return rpc.ErrStreamClosed.
func (s *Stream) Close() error { return s.cs.Close() }

// Stream opens a stream with endpoint (Service.Method) of service: a
// WebSocket handshake at GET /rpc/Service.Method on a node picked as Do
// picks one (discovery, ejection, the version pinned with WithVersion, a
// node not tried yet), under the service's circuit breaker.
//
// The handshake is bounded by the budget: ctx's deadline, or the client's
// default timeout when ctx has none; it carries the budget left at that
// moment in its Sluice-Budget field. A handshake that could not connect, or
// that a node answered 502, 503 or 504, is tried again on another node as
// the client's RetryPolicy allows a GET to be (retry count, retry budget,
// back-off, time left, Sluice-Retry: no); nothing else is retried, and
// nothing once a stream is open. Once open, the stream lives until ctx is
// cancelled or reaches its own deadline (it is then closed with 1001), either
// side closes it, or no message went either way for the idle timeout; the
// client's default timeout no longer applies. The caller must Close the
// stream or cancel ctx.
//
// A refused handshake returns an *rpc.Error decoded from the problem body; an
// unknown service a *NoNodesError; a connection failure an *AttemptError; an
// open breaker a *CircuitOpenError; a spent budget an error wrapping
// budget.ErrSpent or context.DeadlineExceeded.
func (c *Client) Stream(ctx context.Context, service, endpoint string, opts ...StreamOption) (*Stream, error) {
	if err := rpc.ValidateEndpoint(endpoint); err != nil {
		return nil, fmt.Errorf("upstream: stream %q: %w", endpoint, err)
	}
	var cfg streamConfig
	for _, o := range opts {
		o(&cfg)
	}
	hctx := ctx // the handshake's context, with the budget's deadline
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		hctx, cancel = context.WithDeadline(ctx, c.now().Add(c.timeout))
		defer cancel()
	}
	deadline, _ := hctx.Deadline()
	hc := &http.Client{
		Transport:     c.transport,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	// The retry policy judges the handshake as the GET it is.
	get, err := http.NewRequestWithContext(hctx, http.MethodGet, "http://"+service+rpc.Path(endpoint), nil)
	if err != nil {
		return nil, err
	}
	svc := c.service(service)
	rb := svc.budget
	if rb != nil {
		rb.Request()
	}
	tk, err := svc.breaker.admit(netip.Addr{}) // a call of the client's own: one caller
	if err != nil {
		return nil, err
	}
	final, nodes := Abandoned, 0 // the handshakes' outcome, for the breaker
	defer func() { tk.done(final, nodes, time.Time{}) }()
	var triedBuf [4]*registry.Node
	tried := triedBuf[:0]
	for attempt := 0; ; attempt++ {
		node, _, n, err := c.pick(hctx, svc, service, tried, PinnedVersion(ctx), 0, c.now())
		if err != nil {
			return nil, err
		}
		nodes = n
		h, err := budget.Outgoing(hctx, c.now(), c.margin, c.timeout, attempt)
		if err != nil {
			return nil, fmt.Errorf("upstream: %s: %w", service, err)
		}
		u := url.URL{Scheme: "http", Host: node.Address, Path: rpc.Path(endpoint)}
		dctx := ctx
		if svc.tls != nil {
			u.Scheme, dctx = "https", h1.WithTLS(ctx, svc.tls)
		}
		cs, err := rpc.DialStream(dctx, u.String(), rpc.DialOptions{
			HTTPClient:        hc,
			Header:            http.Header{budget.HeaderName: {h.String()}},
			Host:              service,
			HandshakeDeadline: deadline,
			IdleTimeout:       cfg.idle,
			MaxMessageBytes:   cfg.maxMessage,
		})
		outcome, answer := openOutcome(hctx, err, c.left(hctx), c.slack())
		final = outcome
		if outcome.Fault() {
			tk.nodeFault(node, time.Time{})
		}
		c.judge(node, outcome, err, onBehalf{}) // one caller, as for the breaker
		switch {
		case err == nil:
			return &Stream{cs: cs, node: node}, nil
		case outcome == ClientFault || outcome == Abandoned && hctx.Err() == nil:
			return nil, err // the client's own fault, or the node's 504 as the budget ended
		case outcome == Abandoned:
			return nil, fmt.Errorf("upstream: opening a stream to %s at %s: %w", service, node.Address, hctx.Err())
		case outcome == Rejected:
			return nil, err
		case outcome == Local:
			return nil, &LocalError{Service: service, Err: err}
		}
		tried = append(tried, node)
		verdict, wait := giveUp, time.Duration(0)
		if outcome == NotSent || answer != nil { // never a handshake that got no answer
			verdict, wait = c.decide(hctx, get, answer, outcome, attempt, rb, false)
		}
		if verdict != retry {
			var re *rpc.Error
			if errors.As(err, &re) {
				if verdict == giveUpNoMore {
					re.Retry = RetryNo
				}
				return nil, re
			}
			return nil, &AttemptError{Service: service, Node: node.Address, Sent: outcome != NotSent,
				Attempts: attempt + 1, NoMore: verdict == giveUpNoMore, Err: err}
		}
		if err := sleep(hctx, wait); err != nil {
			final = Abandoned
			return nil, fmt.Errorf("upstream: %s: waiting to retry: %w", service, err)
		}
	}
}

// openOutcome classifies a handshake that returned err under ctx, and gives
// a refusal's status and Sluice-Retry field as an answer to judge it by.
func openOutcome(ctx context.Context, err error, left, slack time.Duration) (Outcome, *http.Response) {
	var re *rpc.Error
	switch {
	case err == nil:
		return Success, nil
	case isClientFault(err):
		return ClientFault, nil
	case localFailure(err):
		return Local, nil
	case ctx.Err() != nil:
		return Abandoned, nil
	case errors.As(err, &re) && re.Status < http.StatusBadRequest:
		return Rejected, nil // a redirect, or another answer that is not a stream
	case errors.As(err, &re):
		resp := &http.Response{StatusCode: re.Status, Header: http.Header{}}
		if re.Retry != "" {
			resp.Header.Set(RetryHeader, re.Retry)
		}
		return classify(ctx, time.Time{}, resp, nil, left, slack), resp
	}
	// A transport failure is judged as Do judges one, with the budget's
	// slack: the handshake's own deadline (rpc.DialStream's) is the
	// budget's, and its timer fires apart from ctx's, often first; a
	// handshake that failed as the budget ran out is the caller's doing,
	// not the node's.
	return classify(ctx, time.Time{}, nil, err, left, slack), nil
}
