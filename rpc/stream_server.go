package rpc

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/sluicehq/sluice/internal/problem"
)

// StreamServer serves stream endpoints under PathPrefix: WebSocket handshakes
// at GET /rpc/Service.Method. Register endpoints with RegisterStream before
// serving; ServeHTTP is then safe for concurrent use. Mount it with Mux next
// to a Server. A stream's life is not bounded by the Sluice-Budget of its
// handshake, only by its idle timeout and by its client.
type StreamServer struct {
	// IdleTimeout closes a stream, with 1001, when no message went either
	// way for that long. Zero means DefaultStreamIdleTimeout.
	IdleTimeout time.Duration
	// MaxMessageBytes bounds each message received; a larger one closes
	// the stream with 1009. Zero means DefaultMaxBodyBytes.
	MaxMessageBytes int64
	// MaxStreams bounds the streams open at once; a handshake past it is
	// refused with 503 overloaded and Sluice-Retry: not-processed. Zero
	// means DefaultMaxStreams; a negative value, no bound.
	MaxStreams int

	handlers map[string]func(context.Context, *ServerStream) error

	life     context.Context // ends at Shutdown, closing every stream
	endLife  context.CancelCauseFunc
	mu       sync.Mutex // guards draining and open against active.Add
	draining bool
	open     int            // the streams counted in and not yet out
	active   sync.WaitGroup // the handlers running
}

// ErrServerShutdown is the cause with which Shutdown ends the streams: their
// clients see a 1001 close with the reason "server shutting down".
var ErrServerShutdown = errors.New("server shutting down")

// NewStreamServer returns a StreamServer with no endpoints.
func NewStreamServer() *StreamServer {
	life, end := context.WithCancelCause(context.Background())
	return &StreamServer{handlers: make(map[string]func(context.Context, *ServerStream) error),
		life: life, endLife: end}
}

// Shutdown refuses new streams (503, draining, Sluice-Retry: not-processed),
// closes every open one with 1001 and the reason "server shutting down", so
// that clients know to open it again elsewhere, and waits until their
// handlers have returned or ctx ends. http.Server.Shutdown neither closes
// nor waits for the connections that streams have taken over: call this
// too, from http.Server.RegisterOnShutdown or next to Shutdown.
func (s *StreamServer) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.draining = true
	s.mu.Unlock()
	s.endLife(ErrServerShutdown)
	done := make(chan struct{})
	go func() {
		s.active.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// enter counts a new stream's handler in, or returns the answer that
// refuses it: the server is draining, or has MaxStreams streams open. A
// stream counted in must be counted out with leave.
func (s *StreamServer) enter() (refuse func(http.ResponseWriter)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return refuseDraining
	}
	if limit := s.maxStreams(); limit >= 0 && s.open >= limit {
		return refuseFull
	}
	s.open++
	s.active.Add(1)
	return nil
}

// leave counts out a stream that enter counted in.
func (s *StreamServer) leave() {
	s.mu.Lock()
	s.open--
	s.mu.Unlock()
	s.active.Done()
}

// refuseDraining answers a handshake that arrives after Shutdown.
func refuseDraining(w http.ResponseWriter) {
	w.Header().Set("Sluice-Retry", "not-processed") // upstream.RetryHeader, RetryNotProcessed
	problem.Write(w, http.StatusServiceUnavailable, problem.TypeDraining, "Draining",
		"the server is shutting down; open the stream on another node")
}

// RegisterStream adds the stream endpoint named endpoint (Service.Method) to
// s. The handler runs once per stream with the stream's context, which is
// cancelled when the stream ends; budget.FromContext on it still tells the
// handshake's hop and retries, but its deadline is gone. Returning nil closes
// the stream with 1000, an error with 1011 and a short reason (as StatusOf
// classifies it; an unclassified error is just "Internal error"). It panics
// on a malformed or repeated endpoint name, as Register does.
func RegisterStream(s *StreamServer, endpoint string, handler func(ctx context.Context, st *ServerStream) error) {
	if err := ValidateEndpoint(endpoint); err != nil {
		panic(fmt.Sprintf("rpc: RegisterStream(%q): %v", endpoint, err))
	}
	if _, dup := s.handlers[endpoint]; dup {
		panic(fmt.Sprintf("rpc: RegisterStream(%q): endpoint already registered", endpoint))
	}
	s.handlers[endpoint] = handler
}

// Mux returns the handler to mount at PathPrefix for a backend that serves
// both kinds of endpoint: WebSocket handshakes, and GETs of a stream
// endpoint, go to streams; everything else goes to unary.
func Mux(unary *Server, streams *StreamServer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, PathPrefix)
		if isHandshake(r) || (r.Method == http.MethodGet && streams.handlers[name] != nil) {
			streams.ServeHTTP(w, r)
			return
		}
		unary.ServeHTTP(w, r)
	})
}

// ServeHTTP implements http.Handler. A handshake it refuses is answered with
// a problem body; an accepted one runs the endpoint's handler until the
// stream ends.
func (s *StreamServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, PathPrefix)
	handler := s.handlers[name]
	if !ok || handler == nil {
		problem.Write(w, http.StatusNotFound, problem.TypeNotFound, "No such endpoint",
			"no stream endpoint is served at "+r.URL.Path)
		return
	}
	if refuseHandshake(w, r) {
		return
	}
	if refuse := s.enter(); refuse != nil {
		refuse(w)
		return
	}
	defer s.leave()
	// The server's ReadTimeout and WriteTimeout must not outlive the
	// handshake on a connection the stream now owns.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:       []string{StreamSubprotocol},
		InsecureSkipVerify: true, // refuseHandshake checked the origin
	})
	if err != nil {
		return // Accept answered: the connection could not be taken over
	}
	// The budget bounded the handshake; the stream's life is its own.
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(r.Context()))
	defer cancel(nil)
	st := &ServerStream{ctx: ctx, c: newConn(s.life, ws, s.IdleTimeout, s.MaxMessageBytes, cancel)}
	code, reason := CloseNormal, ""
	defer func() {
		if v := recover(); v != nil {
			st.c.end(ErrStreamClosed, CloseHandlerError, "Internal error")
			<-st.c.closed
			panic(v)
		}
		st.c.end(ErrStreamClosed, code, reason)
		// When Shutdown (or the idle timeout) ended the stream, the watcher
		// is sending the 1001 close; the handler counts as running until it
		// has, or Shutdown could return, and the process exit, before the
		// client is told why its stream ended.
		<-st.c.closed
	}()
	if err := handler(ctx, st); err != nil {
		code, reason = CloseHandlerError, closeReason(err)
	}
}

// refuseHandshake answers a request that is not a valid stream handshake
// with a problem body, and reports whether it did.
func refuseHandshake(w http.ResponseWriter, r *http.Request) bool {
	const how = "open a stream with a WebSocket handshake: GET, Upgrade: websocket, " +
		"Sec-WebSocket-Version: 13, Sec-WebSocket-Protocol: " + StreamSubprotocol
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(r.Header.Get("Sec-WebSocket-Key")))
	switch {
	case r.Method != http.MethodGet:
		w.Header().Set("Allow", http.MethodGet)
		problem.Write(w, http.StatusMethodNotAllowed, problem.TypeMethod, "Method not allowed", how)
	case !isHandshake(r):
		w.Header().Set("Upgrade", "websocket")
		w.Header().Set("Connection", "Upgrade")
		problem.Write(w, http.StatusUpgradeRequired, problem.TypeBadRequest, "Upgrade required", how)
	case r.Header.Get("Sec-WebSocket-Version") != "13":
		w.Header().Set("Sec-WebSocket-Version", "13")
		problem.Write(w, http.StatusUpgradeRequired, problem.TypeBadRequest, "Unsupported WebSocket version", how)
	case err != nil || len(key) != 16 || len(r.Header.Values("Sec-WebSocket-Key")) != 1:
		problem.Write(w, http.StatusBadRequest, problem.TypeBadRequest, "Malformed handshake",
			"Sec-WebSocket-Key must be 16 bytes in base64")
	case !hasToken(r.Header, "Sec-WebSocket-Protocol", StreamSubprotocol):
		problem.Write(w, http.StatusBadRequest, problem.TypeBadRequest, "Subprotocol required", how)
	case !sameOrigin(r):
		problem.Write(w, http.StatusForbidden, problem.TypeBadRequest, "Cross-origin handshake",
			"a browser's Origin must be the host it calls")
	default:
		return false
	}
	return true
}

// isHandshake reports whether r asks for a WebSocket upgrade.
func isHandshake(r *http.Request) bool {
	return hasToken(r.Header, "Connection", "upgrade") && hasToken(r.Header, "Upgrade", "websocket")
}

// hasToken reports whether the comma-separated field key holds token,
// compared without case.
func hasToken(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// sameOrigin reports whether r has no Origin (not a browser) or one whose
// host is the one called, the rule against cross-site WebSocket hijacking.
func sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && strings.EqualFold(u.Host, r.Host)
}

// ServerStream is the handler's end of a stream. Send and Recv may be
// called concurrently, by one goroutine each or more.
type ServerStream struct {
	ctx context.Context
	c   *conn
}

// Context returns the stream's context: cancelled when the stream ends,
// whichever side ends it; context.Cause tells why.
func (s *ServerStream) Context() context.Context { return s.ctx }

// Send sends v as one JSON message. ctx bounds the wait for the connection;
// if it ends while the message is being written, the stream is closed, since
// half a message cannot be taken back. After the peer closed the stream,
// Send may fail with a transport error: Recv tells why it ended.
func (s *ServerStream) Send(ctx context.Context, v any) error { return s.c.send(ctx, v) }

// Recv waits for the next message and decodes it into v. It returns io.EOF
// when the client closed the stream normally, a *StreamError when it closed
// it with another code, and ctx's error, leaving the stream open, when ctx
// ends first.
func (s *ServerStream) Recv(ctx context.Context, v any) error { return s.c.recv(ctx, v) }
