package rpc_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/coder/websocket"

	"github.com/sluicehq/sluice/rpc"
)

// notUTF8 is one JSON value but for a byte that is not UTF-8 inside its
// string: json.Valid accepts it, and json.Unmarshal reads U+FFFD for it.
const notUTF8 = "{\"text\":\"caf\xe9\"}"

// TestAuditStreamServerRefusesAMessageThatIsNotUTF8 checks that a client's
// text message that is not UTF-8 closes the stream with 1008 as any other
// message that is not one JSON value, and never reaches the handler, as the
// unary server answers such a body 400.
func TestAuditStreamServerRefusesAMessageThatIsNotUTF8(t *testing.T) {
	got := make(chan error, 1)
	s := rpc.NewStreamServer()
	rpc.RegisterStream(s, "Chat.Echo", func(ctx context.Context, st *rpc.ServerStream) error {
		var n note
		err := st.Recv(ctx, &n)
		if err == nil {
			err = errors.New("the handler received " + n.Text)
		}
		got <- err
		return err
	})
	ws := dialRaw(t, serveStreams(t, s)+"/rpc/Chat.Echo")
	ctx, cancel := context.WithTimeout(context.Background(), streamWait)
	defer cancel()
	if err := ws.Write(ctx, websocket.MessageText, []byte(notUTF8)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := ws.Read(ctx); websocket.CloseStatus(err) != rpc.ClosePolicy {
		t.Fatalf("Read = %v, want a close with 1008", err)
	}
	var se *rpc.StreamError
	if err := <-got; !errors.As(err, &se) || se.Code != rpc.ClosePolicy {
		t.Fatalf("the handler's Recv = %v, want a 1008 *rpc.StreamError", err)
	}
}

// TestAuditStreamClientRefusesAMessageThatIsNotUTF8 is the same rule on the
// caller's end: a server's message that is not UTF-8 ends the stream with
// 1008 instead of reaching the caller.
func TestAuditStreamClientRefusesAMessageThatIsNotUTF8(t *testing.T) {
	closed := make(chan websocket.StatusCode, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{rpc.StreamSubprotocol}})
		if err != nil {
			return
		}
		defer ws.CloseNow()
		ctx, cancel := context.WithTimeout(context.Background(), streamWait)
		defer cancel()
		if err := ws.Write(ctx, websocket.MessageText, []byte(notUTF8)); err != nil {
			closed <- -1
			return
		}
		_, _, err = ws.Read(ctx)
		closed <- websocket.CloseStatus(err)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), streamWait)
	defer cancel()
	cs, err := rpc.DialStream(ctx, srv.URL+"/rpc/Chat.Echo", rpc.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	var n note
	var se *rpc.StreamError
	if err := cs.Recv(ctx, &n); !errors.As(err, &se) || se.Code != rpc.ClosePolicy {
		t.Fatalf("Recv = %+v, %v; want a 1008 *rpc.StreamError", n, err)
	}
	if code := <-closed; code != rpc.ClosePolicy {
		t.Fatalf("the server saw the stream close with %d, want 1008", code)
	}
}

// TestAuditStreamLongCauseStillClosesWithGoingAway checks that a caller's
// context ended with a cause longer than a close frame's reason can hold
// still closes the stream with 1001, its reason cut to fit: the library
// refuses a reason over 123 bytes, and the connection was dropped without a
// close frame, so that the handler saw a lost connection.
func TestAuditStreamLongCauseStillClosesWithGoingAway(t *testing.T) {
	got := make(chan error, 1)
	s := rpc.NewStreamServer()
	rpc.RegisterStream(s, "Sub.Scribe", func(ctx context.Context, st *rpc.ServerStream) error {
		err := st.Recv(ctx, new(note)) // waits until the stream ends
		got <- err
		return nil
	})
	wait, cancelWait := context.WithTimeout(context.Background(), streamWait)
	defer cancelWait()
	life, end := context.WithCancelCause(wait)
	cs, err := rpc.DialStream(life, serveStreams(t, s)+"/rpc/Sub.Scribe", rpc.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	cause := errors.New("caller gave up: " + strings.Repeat("é", 100)) // 217 bytes
	end(cause)
	var err2 error
	select {
	case err2 = <-got:
	case <-time.After(streamWait):
		t.Fatal("the handler's Recv did not end")
	}
	var se *rpc.StreamError
	if !errors.As(err2, &se) || se.Code != rpc.CloseGoingAway {
		t.Fatalf("the handler's Recv = %v, want a 1001 *rpc.StreamError", err2)
	}
	if len(se.Reason) > 123 || !utf8.ValidString(se.Reason) || !strings.HasPrefix(se.Reason, "caller gave up: é") {
		t.Fatalf("reason %q (%d bytes), want the cause cut to at most 123 bytes of UTF-8", se.Reason, len(se.Reason))
	}
	if err := cs.Recv(wait, new(note)); !errors.Is(err, cause) {
		t.Fatalf("the caller's Recv = %v, want its cause", err)
	}
}
