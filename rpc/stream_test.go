package rpc_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/rpc"
)

// streamWait bounds every wait for a condition; no test asserts on timing.
const streamWait = 10 * time.Second

type note struct {
	Text string `json:"text"`
}

// streamServers returns a unary server and a stream server with one
// endpoint each: Test.Echo and Chat.Echo.
func streamServers() (*rpc.Server, *rpc.StreamServer) {
	unary := testServer()
	streams := rpc.NewStreamServer()
	rpc.RegisterStream(streams, "Chat.Echo", func(ctx context.Context, st *rpc.ServerStream) error {
		for {
			var n note
			if err := st.Recv(ctx, &n); err == io.EOF {
				return nil
			} else if err != nil {
				return err
			}
			if err := st.Send(ctx, n); err != nil {
				return err
			}
		}
	})
	return unary, streams
}

func handshake(r *http.Request) *http.Request {
	r.Header.Set("Connection", "Upgrade")
	r.Header.Set("Upgrade", "websocket")
	r.Header.Set("Sec-WebSocket-Version", "13")
	r.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	r.Header.Set("Sec-WebSocket-Protocol", "other, "+rpc.StreamSubprotocol)
	return r
}

// TestStreamHandshakeRefusals checks that every handshake refused before the
// upgrade is answered with a problem body, and how rpc.Mux routes.
func TestStreamHandshakeRefusals(t *testing.T) {
	tests := []struct {
		name   string
		method string
		path   string
		edit   func(r *http.Request)
		status int
		typ    string
		title  string
	}{
		{"unknown stream endpoint", "GET", "/rpc/Chat.Nope", nil, 404, problem.TypeNotFound, "No such endpoint"},
		{"a unary endpoint's name", "GET", "/rpc/Test.Echo", nil, 404, problem.TypeNotFound, "No such endpoint"},
		{"no upgrade", "GET", "/rpc/Chat.Echo", func(r *http.Request) { r.Header.Del("Upgrade") },
			426, problem.TypeBadRequest, "Upgrade required"},
		{"old version", "GET", "/rpc/Chat.Echo", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Version", "8") },
			426, problem.TypeBadRequest, "Unsupported WebSocket version"},
		{"bad key", "GET", "/rpc/Chat.Echo", func(r *http.Request) { r.Header.Set("Sec-WebSocket-Key", "short") },
			400, problem.TypeBadRequest, "Malformed handshake"},
		{"no subprotocol", "GET", "/rpc/Chat.Echo", func(r *http.Request) { r.Header.Del("Sec-WebSocket-Protocol") },
			400, problem.TypeBadRequest, "Subprotocol required"},
		{"another subprotocol", "GET", "/rpc/Chat.Echo",
			func(r *http.Request) { r.Header.Set("Sec-WebSocket-Protocol", "sluice.stream.v2") },
			400, problem.TypeBadRequest, "Subprotocol required"},
		{"cross origin", "GET", "/rpc/Chat.Echo", func(r *http.Request) { r.Header.Set("Origin", "https://evil.example") },
			403, problem.TypeBadRequest, "Cross-origin handshake"},
		{"POST upgrade", "POST", "/rpc/Chat.Echo", nil, 405, problem.TypeMethod, "Method not allowed"},
	}
	unary, streams := streamServers()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for name, h := range map[string]http.Handler{"StreamServer": streams, "Mux": rpc.Mux(unary, streams)} {
				r := handshake(httptest.NewRequest(tt.method, tt.path, nil))
				if tt.edit != nil {
					tt.edit(r)
				}
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				if w.Code != tt.status {
					t.Fatalf("%s: status %d, want %d; body %s", name, w.Code, tt.status, w.Body)
				}
				checkProblem(t, w, tt.status, tt.typ, tt.title, "")
			}
		})
	}
}

func TestMuxSendsTheRestToTheUnaryServer(t *testing.T) {
	unary, streams := streamServers()
	mux := rpc.Mux(unary, streams)
	tests := []struct {
		name   string
		r      *http.Request
		status int
	}{
		{"unary call", httptest.NewRequest("POST", "/rpc/Test.Echo", strings.NewReader(`{"name":"ada"}`)), 200},
		{"GET of a unary endpoint", httptest.NewRequest("GET", "/rpc/Test.Echo", nil), 405},
		{"POST of a stream endpoint", httptest.NewRequest("POST", "/rpc/Chat.Echo", nil), 404},
		{"GET of a stream endpoint, no upgrade", httptest.NewRequest("GET", "/rpc/Chat.Echo", nil), 426},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, tt.r)
		if w.Code != tt.status {
			t.Errorf("%s: status %d, want %d; body %s", tt.name, w.Code, tt.status, w.Body)
		}
	}
}

// serveStreams runs s behind budget.Inbound on a real listener, with the
// server's log discarded (a test panics a handler on purpose).
func serveStreams(t *testing.T, s *rpc.StreamServer) string {
	ts := httptest.NewUnstartedServer(budget.Inbound(budget.ServerPolicy{})(s))
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.Start()
	t.Cleanup(ts.Close)
	return ts.URL
}

func dialRaw(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), streamWait)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{rpc.StreamSubprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ws.CloseNow() })
	return ws
}

// TestStreamBadMessages checks, with a raw WebSocket client, that a message
// that is not one JSON value in a text frame, or that is too big, closes the
// stream with the code for it, and that the handler is told.
func TestStreamBadMessages(t *testing.T) {
	tests := []struct {
		name string
		typ  websocket.MessageType
		msg  string
		code websocket.StatusCode
	}{
		{"binary frame", websocket.MessageBinary, `{"text":"hi"}`, rpc.ClosePolicy},
		{"not JSON", websocket.MessageText, `{"text":`, rpc.ClosePolicy},
		{"two values", websocket.MessageText, `{} {}`, rpc.ClosePolicy},
		{"too big", websocket.MessageText, `{"text":"` + strings.Repeat("x", 64) + `"}`, rpc.CloseTooBig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			handlerErr := make(chan error, 1)
			s := rpc.NewStreamServer()
			s.MaxMessageBytes = 64
			rpc.RegisterStream(s, "Chat.Echo", func(ctx context.Context, st *rpc.ServerStream) error {
				err := st.Recv(ctx, new(note))
				handlerErr <- err
				return err
			})
			ws := dialRaw(t, serveStreams(t, s)+"/rpc/Chat.Echo")
			ctx, cancel := context.WithTimeout(context.Background(), streamWait)
			defer cancel()
			if err := ws.Write(ctx, tt.typ, []byte(tt.msg)); err != nil {
				t.Fatal(err)
			}
			if _, _, err := ws.Read(ctx); websocket.CloseStatus(err) != tt.code {
				t.Fatalf("Read = %v, want a close with %d", err, tt.code)
			}
			var se *rpc.StreamError
			select {
			case err := <-handlerErr:
				if !errors.As(err, &se) || se.Code != int(tt.code) {
					t.Fatalf("the handler's Recv = %v, want a %d *rpc.StreamError", err, tt.code)
				}
			case <-time.After(streamWait):
				t.Fatal("the handler's Recv did not end")
			}
		})
	}
}

func TestStreamHandlerPanicClosesWith1011(t *testing.T) {
	s := rpc.NewStreamServer()
	rpc.RegisterStream(s, "Chat.Panic", func(context.Context, *rpc.ServerStream) error { panic("boom") })
	ws := dialRaw(t, serveStreams(t, s)+"/rpc/Chat.Panic")
	ctx, cancel := context.WithTimeout(context.Background(), streamWait)
	defer cancel()
	_, _, err := ws.Read(ctx)
	var ce websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != rpc.CloseHandlerError || ce.Reason != "Internal error" {
		t.Fatalf("Read = %v, want a 1011 close saying Internal error", err)
	}
}

// TestStreamContextIgnoresTheBudget checks that the handler's context keeps
// the handshake's budget information but not its deadline.
func TestStreamContextIgnoresTheBudget(t *testing.T) {
	type seen struct {
		hop         int
		hasDeadline bool
	}
	got := make(chan seen, 1)
	s := rpc.NewStreamServer()
	rpc.RegisterStream(s, "Chat.Ctx", func(ctx context.Context, st *rpc.ServerStream) error {
		info, _ := budget.FromContext(ctx)
		_, ok := st.Context().Deadline()
		got <- seen{info.Hop, ok}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), streamWait)
	defer cancel()
	cs, err := rpc.DialStream(ctx, serveStreams(t, s)+"/rpc/Chat.Ctx", rpc.DialOptions{
		Header: http.Header{budget.HeaderName: {"ms=50, hop=3"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	select {
	case g := <-got:
		if g.hop != 3 || g.hasDeadline {
			t.Fatalf("handler saw %+v, want hop 3 and no deadline", g)
		}
	case <-time.After(streamWait):
		t.Fatal("the handler did not run")
	}
	if err := cs.Recv(ctx, new(note)); err != io.EOF {
		t.Fatalf("Recv = %v, want io.EOF once the handler returned nil", err)
	}
}

func TestDialStreamRefusals(t *testing.T) {
	_, streams := streamServers()
	url := serveStreams(t, streams)
	ctx, cancel := context.WithTimeout(context.Background(), streamWait)
	defer cancel()

	_, err := rpc.DialStream(ctx, url+"/rpc/Chat.Nope", rpc.DialOptions{})
	var re *rpc.Error
	if !errors.As(err, &re) || re.Status != 404 || re.Type != problem.TypeNotFound {
		t.Fatalf("unknown endpoint: %v, want an *rpc.Error 404 no-route", err)
	}

	// A WebSocket server that does not speak the subprotocol.
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err == nil {
			_, _, _ = ws.Read(context.Background())
		}
	}))
	defer plain.Close()
	if _, err := rpc.DialStream(ctx, plain.URL, rpc.DialOptions{}); err == nil || !strings.Contains(err.Error(), rpc.StreamSubprotocol) {
		t.Fatalf("a server without the subprotocol: %v, want an error naming it", err)
	}

	// The handshake deadline bounds the handshake.
	hung := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hung.Close()
	_, err = rpc.DialStream(ctx, hung.URL, rpc.DialOptions{HandshakeDeadline: time.Now().Add(50 * time.Millisecond)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a hung handshake: %v, want context.DeadlineExceeded", err)
	}
}

// TestStreamRecvContextLeavesTheStreamOpen checks that a Recv whose own
// context ends gives up without ending the stream.
func TestStreamRecvContextLeavesTheStreamOpen(t *testing.T) {
	_, streams := streamServers()
	ctx, cancel := context.WithTimeout(context.Background(), streamWait)
	defer cancel()
	cs, err := rpc.DialStream(ctx, serveStreams(t, streams)+"/rpc/Chat.Echo", rpc.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	short, cancelShort := context.WithCancel(ctx)
	cancelShort()
	if err := cs.Recv(short, new(note)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Recv with an ended context = %v", err)
	}
	if err := cs.Send(short, note{}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Send with an ended context = %v", err)
	}
	var n note
	if err := cs.Send(ctx, note{Text: "still open"}); err != nil {
		t.Fatal(err)
	}
	if err := cs.Recv(ctx, &n); err != nil || n.Text != "still open" {
		t.Fatalf("Recv = %+v, %v", n, err)
	}
}

// A handler that reads one message and then only waits (a subscription) must
// still learn that its client closed, though a message it never reads came
// first; and the client's Close must get its answer.
func TestStreamCloseIsSeenPastUnreadMessages(t *testing.T) {
	ended := make(chan error, 1)
	s := rpc.NewStreamServer()
	rpc.RegisterStream(s, "Sub.Scribe", func(ctx context.Context, st *rpc.ServerStream) error {
		if err := st.Recv(ctx, new(note)); err != nil {
			return err
		}
		<-ctx.Done()
		ended <- context.Cause(ctx)
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), streamWait)
	defer cancel()
	cs, err := rpc.DialStream(ctx, serveStreams(t, s)+"/rpc/Sub.Scribe", rpc.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"subscribe", "unread 1", "unread 2"} {
		if err := cs.Send(ctx, note{Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	if err := cs.Close(); err != nil {
		t.Fatalf("Close = %v, want the server's answer to the close", err)
	}
	select {
	case <-ended:
	case <-time.After(streamWait):
		t.Fatal("the handler's context did not end after the client closed")
	}
}

// Messages that arrived before the peer ended the stream are all received
// before the end is reported.
func TestStreamRecvGetsQueuedMessagesBeforeTheEnd(t *testing.T) {
	s := rpc.NewStreamServer()
	rpc.RegisterStream(s, "Push.Three", func(ctx context.Context, st *rpc.ServerStream) error {
		for _, text := range []string{"a", "b", "c"} {
			if err := st.Send(ctx, note{Text: text}); err != nil {
				return err
			}
		}
		return nil // closes with 1000
	})
	ctx, cancel := context.WithTimeout(context.Background(), streamWait)
	defer cancel()
	cs, err := rpc.DialStream(ctx, serveStreams(t, s)+"/rpc/Push.Three", rpc.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	var got []string
	for {
		var n note
		err := cs.Recv(ctx, &n)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("Recv after %v = %v", got, err)
		}
		got = append(got, n.Text)
	}
	if strings.Join(got, "") != "abc" {
		t.Fatalf("received %v before the end, want a b c", got)
	}
}

func TestStreamServerShutdown(t *testing.T) {
	handlerDone := make(chan error, 1)
	s := rpc.NewStreamServer()
	rpc.RegisterStream(s, "Sub.Scribe", func(ctx context.Context, st *rpc.ServerStream) error {
		err := st.Recv(ctx, new(note)) // waits until the stream ends
		handlerDone <- err
		return nil
	})
	url := serveStreams(t, s) + "/rpc/Sub.Scribe"
	ctx, cancel := context.WithTimeout(context.Background(), streamWait)
	defer cancel()
	cs, err := rpc.DialStream(ctx, url, rpc.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	select {
	case err := <-handlerDone: // Shutdown waited for it
		if !errors.Is(err, rpc.ErrServerShutdown) {
			t.Fatalf("the handler's Recv = %v, want ErrServerShutdown", err)
		}
	default:
		t.Fatal("Shutdown returned before the handler did")
	}
	var se *rpc.StreamError
	if err := cs.Recv(ctx, new(note)); !errors.As(err, &se) || se.Code != rpc.CloseGoingAway || se.Reason != "server shutting down" {
		t.Fatalf("the client's Recv = %v, want a 1001 server shutting down", err)
	}
	_, err = rpc.DialStream(ctx, url, rpc.DialOptions{})
	var re *rpc.Error
	if !errors.As(err, &re) || re.Status != http.StatusServiceUnavailable || re.Retry != "not-processed" {
		t.Fatalf("a handshake after Shutdown = %v, want 503 not-processed", err)
	}
}

// closeFrameConn delays every write that starts with a WebSocket close frame
// (FIN and opcode 8, unmasked: the server's), and records that one went out.
// The delay widens the window in which a Shutdown that did not wait for the
// close handshake would return before the client was told, as a process
// exiting right after Shutdown would cut it off.
type closeFrameConn struct {
	net.Conn
	sent *atomic.Bool
}

func (c closeFrameConn) Write(b []byte) (int, error) {
	if len(b) > 0 && b[0] == 0x88 {
		time.Sleep(50 * time.Millisecond)
		n, err := c.Conn.Write(b)
		c.sent.Store(true)
		return n, err
	}
	return c.Conn.Write(b)
}

type closeFrameListener struct {
	net.Listener
	sent *atomic.Bool
}

func (l closeFrameListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return closeFrameConn{Conn: c, sent: l.sent}, nil
}

// TestStreamServerShutdownWaitsForTheCloseFrame checks that Shutdown returns
// only once the 1001 close frame of every stream it ended has been written:
// a backend exits right after Shutdown, and a client cut off before the
// frame sees "unexpected EOF" instead of "server shutting down".
func TestStreamServerShutdownWaitsForTheCloseFrame(t *testing.T) {
	s := rpc.NewStreamServer()
	rpc.RegisterStream(s, "Sub.Scribe", func(ctx context.Context, st *rpc.ServerStream) error {
		return st.Recv(ctx, new(note)) // returns as soon as the stream ends
	})
	var sent atomic.Bool
	ts := httptest.NewUnstartedServer(budget.Inbound(budget.ServerPolicy{})(s))
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.Listener = closeFrameListener{Listener: ts.Listener, sent: &sent}
	ts.Start()
	t.Cleanup(ts.Close)
	ctx, cancel := context.WithTimeout(context.Background(), streamWait)
	defer cancel()
	cs, err := rpc.DialStream(ctx, ts.URL+"/rpc/Sub.Scribe", rpc.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	if !sent.Load() {
		t.Fatal("Shutdown returned before the stream's close frame was written")
	}
	var se *rpc.StreamError
	if err := cs.Recv(ctx, new(note)); !errors.As(err, &se) || se.Code != rpc.CloseGoingAway {
		t.Fatalf("the client's Recv = %v, want a 1001", err)
	}
}

// heldConn holds every write of a text frame (FIN and opcode 1, unmasked:
// the server's) after its bytes went out, until release is closed: the
// writing goroutine has sent the message but not yet returned, as a
// goroutine the scheduler set aside would.
type heldConn struct {
	net.Conn
	release chan struct{}
}

func (c heldConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	if len(b) > 0 && b[0] == 0x81 {
		<-c.release
	}
	return n, err
}

type heldListener struct {
	net.Listener
	release chan struct{}
}

func (l heldListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return heldConn{Conn: c, release: l.release}, nil
}

// TestStreamShutdownDuringASendStillSendsTheCloseFrame checks that a
// Shutdown that ends the handler's context while its Send has written the
// message but not returned still closes the stream with 1001: the context
// ending after the bytes went out must not cut the connection before the
// close frame (the e2e SIGTERM test saw "unexpected EOF" about 1 run in 10).
func TestStreamShutdownDuringASendStillSendsTheCloseFrame(t *testing.T) {
	ctxEnded := make(chan struct{})
	s := rpc.NewStreamServer()
	rpc.RegisterStream(s, "Sub.Scribe", func(ctx context.Context, st *rpc.ServerStream) error {
		context.AfterFunc(ctx, func() { close(ctxEnded) })
		_ = st.Send(ctx, note{Text: "hello"})
		return st.Recv(ctx, new(note))
	})
	release := make(chan struct{})
	ts := httptest.NewUnstartedServer(budget.Inbound(budget.ServerPolicy{})(s))
	ts.Config.ErrorLog = log.New(io.Discard, "", 0)
	ts.Listener = heldListener{Listener: ts.Listener, release: release}
	ts.Start()
	t.Cleanup(ts.Close)
	ctx, cancel := context.WithTimeout(context.Background(), streamWait)
	defer cancel()
	cs, err := rpc.DialStream(ctx, ts.URL+"/rpc/Sub.Scribe", rpc.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	var got note
	if err := cs.Recv(ctx, &got); err != nil || got.Text != "hello" {
		t.Fatalf("Recv = %v, %v; want hello", got, err)
	}
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(ctx) }()
	select {
	case <-ctxEnded:
	case <-ctx.Done():
		t.Fatal("Shutdown did not end the handler's context")
	}
	close(release) // the Send returns only now, after its context ended
	var se *rpc.StreamError
	if err := cs.Recv(ctx, new(note)); !errors.As(err, &se) || se.Code != rpc.CloseGoingAway {
		t.Fatalf("the client's Recv = %v, want a 1001", err)
	}
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
}
