package rpc

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sluicehq/sluice/internal/problem"
)

// limitsWait bounds every wait for a condition; no test asserts on timing.
const limitsWait = 10 * time.Second

// look is what the reader of a stream end saw when it looked at its queue.
type look struct {
	held int64
	full bool
}

// sized returns a message {"text":"<tag>x…"} of exactly n bytes.
func sized(tag string, n int) []byte {
	const frame = len(`{"text":""}`)
	return []byte(`{"text":"` + tag + strings.Repeat("x", n-frame-len(tag)) + `"}`)
}

// TestAuditStreamQueueIsBoundedByBytes checks that a stream end whose
// Recv does not come reads no further message while those it queued hold
// MaxMessageBytes or more, so that it holds less than twice that, where it
// read on up to 16 messages of up to MaxMessageBytes each (16 MiB by
// default); that a message of MaxMessageBytes is still taken when the queue
// is not empty; and that it reads on, in order, once Recv takes them.
func TestAuditStreamQueueIsBoundedByBytes(t *testing.T) {
	const max = 1000
	sizes := []int{600, max, 600, 600, 600}
	looks := make(chan look, 100) // the reader looks at most twice a message, and once more
	ends := make(chan *conn, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{StreamSubprotocol}})
		if err != nil {
			return
		}
		c := prepareConn(ws, 0, max)
		c.queue.onLook = func(held int64, full bool) { looks <- look{held, full} }
		c.serve(context.Background(), nil)
		ends <- c
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), limitsWait)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, srv.URL, &websocket.DialOptions{Subprotocols: []string{StreamSubprotocol}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	sent := make(chan error, 1)
	go func() {
		for i, n := range sizes {
			if err := ws.Write(ctx, websocket.MessageText, sized(string(rune('a'+i)), n)); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	var c *conn
	select {
	case c = <-ends:
	case <-ctx.Done():
		t.Fatal("the server did not accept the stream")
	}
	defer c.ws.CloseNow()
	for waiting := false; !waiting; {
		var l look
		select {
		case l = <-looks:
		case <-ctx.Done():
			t.Fatal("the reader neither read on nor waited")
		}
		if l.held >= max && !l.full {
			t.Fatalf("the reader read on while its queue held %d bytes of messages (bound %d)", l.held, max)
		}
		waiting = l.full
		if waiting && (l.held != 600+max || len(c.in) != 2) {
			t.Fatalf("the reader waits with %d messages, %d bytes queued; want 2, %d", len(c.in), l.held, 600+max)
		}
	}
	go func() { // keep the reader's looks from filling their channel
		for range looks {
		}
	}()
	for i, n := range sizes {
		var got struct{ Text string }
		if err := c.recv(ctx, &got); err != nil {
			t.Fatalf("Recv %d = %v", i, err)
		}
		if want := string(sized(string(rune('a'+i)), n)); `{"text":"`+got.Text+`"}` != want {
			t.Fatalf("Recv %d got %d bytes starting %.10q, want message %c of %d", i, len(got.Text), got.Text, 'a'+i, n)
		}
	}
	if err := <-sent; err != nil {
		t.Fatalf("the peer's writes: %v", err)
	}
	if held := c.queue.held.Load(); held != 0 {
		t.Fatalf("the queue holds %d bytes after every message was received", held)
	}
	if err := ws.Close(websocket.StatusNormalClosure, ""); err != nil {
		t.Fatalf("the peer's close: %v", err)
	}
	if err := c.recv(ctx, new(struct{})); !errors.Is(err, io.EOF) {
		t.Fatalf("Recv after the peer closed = %v, want io.EOF", err)
	}
}

// TestAuditStreamServerRefusesStreamsPastMaxStreams checks that a server
// with MaxStreams streams open refuses the next handshake with 503
// overloaded and Sluice-Retry: not-processed, before any handler runs, and
// takes a new one once a stream has ended: a client opening streams to a
// handler that does not receive held 16 × MaxMessageBytes each, with no
// bound on the streams.
func TestAuditStreamServerRefusesStreamsPastMaxStreams(t *testing.T) {
	s := NewStreamServer()
	s.MaxStreams = 2
	started := make(chan struct{}, 10)
	RegisterStream(s, "Sub.Scribe", func(ctx context.Context, st *ServerStream) error {
		started <- struct{}{}
		return st.Recv(ctx, new(struct{})) // until the stream ends
	})
	served := make(chan struct{}, 10) // ServeHTTP returned: the stream is counted out
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.ServeHTTP(w, r)
		served <- struct{}{}
	}))
	defer srv.Close()
	url := srv.URL + "/rpc/Sub.Scribe"
	ctx, cancel := context.WithTimeout(context.Background(), limitsWait)
	defer cancel()
	open := func() (*ClientStream, error) {
		cs, err := DialStream(ctx, url, DialOptions{})
		if err == nil {
			t.Cleanup(func() { _ = cs.Close() })
		}
		return cs, err
	}
	first, err := open()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := open(); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		<-started
	}
	_, err = open()
	var re *Error
	if !errors.As(err, &re) || re.Status != http.StatusServiceUnavailable || re.Retry != "not-processed" ||
		re.Type != problem.TypeOverloaded || re.Title != "Too many streams" {
		t.Fatalf("a third stream with MaxStreams 2: %v, want 503 overloaded, not-processed", err)
	}
	<-served // the refused handshake
	select {
	case <-started:
		t.Fatal("a handler ran for the refused stream")
	default:
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-served:
	case <-ctx.Done():
		t.Fatal("the closed stream's ServeHTTP did not return")
	}
	if _, err := open(); err != nil {
		t.Fatalf("a stream after one of two ended: %v", err)
	}
}

// TestAuditStreamServerMaxStreamsDefaults checks that zero means
// DefaultMaxStreams and that a negative MaxStreams bounds nothing.
func TestAuditStreamServerMaxStreamsDefaults(t *testing.T) {
	s := NewStreamServer()
	if got := s.maxStreams(); got != DefaultMaxStreams || DefaultMaxStreams <= 0 {
		t.Fatalf("zero MaxStreams gives %d, want DefaultMaxStreams (%d)", got, DefaultMaxStreams)
	}
	s.MaxStreams = -1
	RegisterStream(s, "Sub.Scribe", func(ctx context.Context, st *ServerStream) error {
		return st.Recv(ctx, new(struct{}))
	})
	srv := httptest.NewServer(s)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), limitsWait)
	defer cancel()
	for i := range 3 {
		cs, err := DialStream(ctx, srv.URL+"/rpc/Sub.Scribe", DialOptions{})
		if err != nil {
			t.Fatalf("stream %d with MaxStreams -1: %v", i, err)
		}
		defer cs.Close()
	}
}
