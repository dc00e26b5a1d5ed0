package upstream

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/sluicehq/sluice/registry"
)

// rwBody is a connection standing for a 101 answer's body.
type rwBody struct {
	bytes.Buffer
	closed, halfClosed int
}

func (b *rwBody) Close() error      { b.closed++; return nil }
func (b *rwBody) CloseWrite() error { b.halfClosed++; return nil }

// TestAnswerBodyKeepsAConnectionWritable checks that the wrapper of a 101
// answer's body still writes and half-closes through to the connection, and
// ends the attempt once; a plain body stays read-only.
func TestAnswerBodyKeepsAConnectionWritable(t *testing.T) {
	conn := &rwBody{}
	ended := 0
	body := answerBody(conn, func() { ended++ }, nil, func() {})
	rw, ok := body.(io.ReadWriteCloser)
	if !ok {
		t.Fatalf("%T is not writable", body)
	}
	if _, err := io.WriteString(rw, "ping"); err != nil || conn.String() != "ping" {
		t.Fatalf("write reached %q, %v", conn.String(), err)
	}
	if err := body.(interface{ CloseWrite() error }).CloseWrite(); err != nil || conn.halfClosed != 1 {
		t.Fatalf("CloseWrite = %v, half-closed %d times", err, conn.halfClosed)
	}
	rw.Close()
	rw.Close()
	if conn.closed != 2 || ended != 1 {
		t.Fatalf("closed %d times, attempt ended %d times; want 2 and 1", conn.closed, ended)
	}
	if _, ok := answerBody(io.NopCloser(&bytes.Buffer{}), func() {}, nil, func() {}).(io.Writer); ok {
		t.Fatal("a read-only body became writable")
	}
}

// TestHandshakeIsNotHedged: a hedge of a protocol switch would open a
// connection on a second node only to drop it.
func TestHandshakeIsNotHedged(t *testing.T) {
	reg, err := registry.NewStatic()
	if err != nil {
		t.Fatal(err)
	}
	p := DefaultRetryPolicy()
	p.HedgeAfter = time.Millisecond
	c := New(reg, WithRetryPolicy(p))
	r, _ := http.NewRequest("GET", "http://svc/ws", nil)
	if !c.hedges(context.Background(), r, 0) {
		t.Fatal("a plain GET is not hedged: the test proves nothing")
	}
	r.Header.Set("Connection", "keep-alive, Upgrade")
	r.Header.Set("Upgrade", "websocket")
	if c.hedges(context.Background(), r, 0) {
		t.Fatal("a WebSocket handshake would be hedged")
	}
}
