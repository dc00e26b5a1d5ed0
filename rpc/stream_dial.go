package rpc

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/sluicehq/sluice/internal/problem"
)

// DialOptions configure DialStream. The zero value is usable.
type DialOptions struct {
	// HTTPClient sends the handshake; nil means http.DefaultClient. Its
	// transport must hand over the connection of a 101 answer, as
	// http.Transport does.
	HTTPClient *http.Client
	// Header holds fields to send with the handshake, such as Sluice-Budget.
	Header http.Header
	// Host, when not empty, is sent as the Host field instead of the URL's.
	Host string
	// HandshakeDeadline, when not zero, bounds the handshake (not the
	// stream), on top of the context.
	HandshakeDeadline time.Time
	// IdleTimeout closes the stream, with 1001, when no message went either
	// way for that long. Zero means DefaultStreamIdleTimeout.
	IdleTimeout time.Duration
	// MaxMessageBytes bounds each message received; a larger one closes
	// the stream with 1009. Zero means DefaultMaxBodyBytes.
	MaxMessageBytes int64
}

// DialStream opens a stream with the endpoint at rawURL
// (http://host:port/rpc/Service.Method). ctx bounds the stream's whole life,
// as grpc's NewStream does: when it ends, the stream is closed with 1001.
// A handshake answered with another status than 101 returns an *Error
// decoded from the problem body; a transport failure, an error wrapping the
// transport's (package upstream tells from it whether anything was sent).
func DialStream(ctx context.Context, rawURL string, o DialOptions) (*ClientStream, error) {
	hctx := ctx
	if !o.HandshakeDeadline.IsZero() {
		var cancel context.CancelFunc
		hctx, cancel = context.WithDeadline(ctx, o.HandshakeDeadline)
		defer cancel()
	}
	ws, resp, err := websocket.Dial(hctx, rawURL, &websocket.DialOptions{
		HTTPClient:   o.HTTPClient,
		HTTPHeader:   o.Header,
		Host:         o.Host,
		Subprotocols: []string{StreamSubprotocol},
	})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			return nil, handshakeError(resp)
		}
		return nil, fmt.Errorf("rpc: opening a stream at %s: %w", rawURL, err)
	}
	if ws.Subprotocol() != StreamSubprotocol {
		_ = ws.Close(websocket.StatusProtocolError, "subprotocol "+StreamSubprotocol+" required")
		return nil, fmt.Errorf("rpc: %s did not accept subprotocol %s", rawURL, StreamSubprotocol)
	}
	return &ClientStream{c: newConn(ctx, ws, o.IdleTimeout, o.MaxMessageBytes, nil)}, nil
}

// handshakeError turns a refused handshake into an *Error, as the upstream
// client's Call turns a failed call into one: a problem body gives its
// fields; another body is the detail of a 4xx (the service's words on the
// request) but not of a 5xx, a stack trace or a proxy's error page naming
// the network behind it, which a handler that returned the error would
// write to its own caller, up to the edge.
func handshakeError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	e := &Error{}
	switch {
	case problem.IsProblem(resp.Header.Get("Content-Type")):
		_ = json.Unmarshal(b, e)
	case resp.StatusCode < http.StatusInternalServerError:
		e.Detail = strings.TrimSpace(string(b))
	}
	e.Status = resp.StatusCode
	e.Retry = resp.Header.Get("Sluice-Retry")
	if e.Title == "" {
		e.Title = http.StatusText(resp.StatusCode)
	}
	return e
}

// ClientStream is the caller's end of a stream, as DialStream opens it. Send
// and Recv may be called concurrently, by one goroutine each or more.
type ClientStream struct{ c *conn }

// Send sends v as one JSON message; see ServerStream.Send.
func (s *ClientStream) Send(ctx context.Context, v any) error { return s.c.send(ctx, v) }

// Recv waits for the next message and decodes it into v. It returns io.EOF
// when the server ended the stream normally, a *StreamError carrying the
// reason when the handler failed (1011) or another code ended it, and ctx's
// error, leaving the stream open, when ctx ends first.
func (s *ClientStream) Recv(ctx context.Context, v any) error { return s.c.recv(ctx, v) }

// Close ends the stream with 1000 and waits, a few seconds at most, for the
// server to answer the close. Later calls of every method return
// ErrStreamClosed.
func (s *ClientStream) Close() error { return s.c.end(ErrStreamClosed, CloseNormal, "") }
