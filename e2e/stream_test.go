package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/refused"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/rpc"
	"github.com/sluicehq/sluice/selector"
	"github.com/sluicehq/sluice/upstream"
)

// streamWait bounds every wait of the stream tests. It is a limit against
// hangs, never an expectation of how long anything takes.
const streamWait = 10 * time.Second

// chatReply is a message the greeter sends on a Greeter.Chat stream.
type chatReply struct {
	Message string       `json:"message"`
	Budget  budgetReport `json:"budget"`
	N       int          `json:"n"`
}

type chatName struct {
	Name string `json:"name"`
}

// startGreeterProc starts a greeter on a loopback port of its own, with
// extra flags, and returns it and its address.
func startGreeterProc(t *testing.T, extra ...string) (*proc, string) {
	t.Helper()
	p := start(t, "greeter", append([]string{"-listen", "127.0.0.1:0"}, extra...)...)
	return p, p.addr(0)
}

// countingTransport counts the handshakes sent to each address.
type countingTransport struct {
	rt    http.RoundTripper
	mu    sync.Mutex
	sends map[string]int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.mu.Lock()
	c.sends[r.URL.Host]++
	c.mu.Unlock()
	return c.rt.RoundTrip(r)
}

func (c *countingTransport) count(addr string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sends[addr]
}

// streamClient returns this test process's companion client over a static
// registry of greeter nodes at addrs. Nodes are taken in turn and never
// ejected, so that a bad node keeps being picked and its handshakes retried;
// the back-off is short.
func streamClient(t *testing.T, addrs ...string) (*upstream.Client, *countingTransport) {
	t.Helper()
	var nodes []*registry.Node
	for _, a := range addrs {
		nodes = append(nodes, &registry.Node{Service: "greeter", Address: a})
	}
	reg, err := registry.NewStatic(nodes...)
	if err != nil {
		t.Fatal(err)
	}
	policy := upstream.DefaultRetryPolicy()
	policy.BackoffBase, policy.BackoffCap = time.Millisecond, 5*time.Millisecond
	tr := &countingTransport{rt: upstream.NewTransport(), sends: map[string]int{}}
	return upstream.New(reg,
		upstream.WithStrategy(selector.RoundRobin),
		upstream.WithEjector(nil),
		upstream.WithRetryPolicy(policy),
		upstream.WithTransport(tr),
	), tr
}

// boundedCtx returns a context that bounds one wait of a test.
func boundedCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), streamWait)
	t.Cleanup(cancel)
	return ctx
}

// openChat opens a Greeter.Chat stream that closes with the test.
func openChat(t *testing.T, c *upstream.Client, ctx context.Context, opts ...upstream.StreamOption) *upstream.Stream {
	t.Helper()
	st, err := c.Stream(ctx, "greeter", "Greeter.Chat", opts...)
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// greet sends name on st and checks the greeting that comes back is the
// n-th of the stream.
func greet(t *testing.T, st *upstream.Stream, name string, n int) chatReply {
	t.Helper()
	ctx := boundedCtx(t)
	if err := st.Send(ctx, chatName{Name: name}); err != nil {
		t.Fatalf("Send(%q): %v", name, err)
	}
	return recvGreeting(t, st, name, n)
}

// recvGreeting receives the greeting of name, the n-th of the stream.
func recvGreeting(t *testing.T, st *upstream.Stream, name string, n int) chatReply {
	t.Helper()
	var got chatReply
	if err := st.Recv(boundedCtx(t), &got); err != nil {
		t.Fatalf("Recv (greeting %d, %q): %v", n, name, err)
	}
	if want := "Hello, " + name + "!"; got.Message != want || got.N != n {
		t.Fatalf("got %+v, want message %q n %d", got, want, n)
	}
	return got
}

// chatEnded waits for the greeter's log line saying a stream's handler
// returned, and returns it.
func chatEnded(p *proc) map[string]any {
	p.T().Helper()
	return p.waitLog(func(l map[string]any) bool { return l["msg"] == "chat ended" })
}

func wantStreamError(t *testing.T, err error, code int, reason string) {
	t.Helper()
	var se *rpc.StreamError
	if !errors.As(err, &se) || se.Code != code || !strings.Contains(se.Reason, reason) {
		t.Fatalf("got %v, want an *rpc.StreamError with code %d and a reason containing %q", err, code, reason)
	}
}

func TestStreamChatWithARealGreeter(t *testing.T) {
	g, addr := startGreeterProc(t)
	c, _ := streamClient(t, addr)
	const deadline = 20 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), deadline)
	defer cancel()
	st := openChat(t, c, ctx)
	if st.Node().Address != addr {
		t.Fatalf("stream open to %s, want %s", st.Node().Address, addr)
	}

	// Several messages in flight at once, then one at a time.
	names := []string{"Ada", "Grace", "Barbara"}
	for _, name := range names {
		if err := st.Send(boundedCtx(t), chatName{Name: name}); err != nil {
			t.Fatalf("Send(%q): %v", name, err)
		}
	}
	var replies []chatReply
	for i, name := range names {
		replies = append(replies, recvGreeting(t, st, name, i+1))
	}
	replies = append(replies, greet(t, st, "Edsger", 4), greet(t, st, "日本語", 5))

	b := replies[0].Budget
	if b.Service != "greeter" || b.Node != addr || b.Hop != 1 || b.Retries != 0 {
		t.Fatalf("budget report %+v, want service greeter, node %s, hop 1, no retries", b, addr)
	}
	if b.ReceivedMs <= 0 || b.ReceivedMs > float64(deadline.Milliseconds()) {
		t.Fatalf("the handshake carried %v ms, want within the caller's %v", b.ReceivedMs, deadline)
	}
	for _, r := range replies[1:] {
		if r.Budget != b {
			t.Fatalf("budget report %+v, want the handshake's %+v on every message", r.Budget, b)
		}
	}

	// The unary endpoint and the plain HTTP route still work next to the stream.
	var hello struct {
		Message string `json:"message"`
	}
	if err := c.Call(boundedCtx(t), "greeter", "Greeter.Hello", chatName{Name: "Ada"}, &hello); err != nil || hello.Message != "Hello, Ada!" {
		t.Fatalf("Greeter.Hello = %+v, %v", hello, err)
	}
	if r := get(t, "http://"+addr+"/hello/Ada"); r.status != http.StatusOK || !strings.Contains(string(r.body), "Hello, Ada!") {
		t.Fatalf("GET /hello/Ada: %d %s", r.status, r.body)
	}

	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := st.Recv(boundedCtx(t), new(chatReply)); !errors.Is(err, rpc.ErrStreamClosed) {
		t.Fatalf("Recv after Close = %v, want rpc.ErrStreamClosed", err)
	}
	if err := st.Send(boundedCtx(t), chatName{Name: "late"}); !errors.Is(err, rpc.ErrStreamClosed) {
		t.Fatalf("Send after Close = %v, want rpc.ErrStreamClosed", err)
	}
	// The handler saw the close as the normal end of the conversation.
	l := chatEnded(g)
	if l["messages"] != float64(5) || l["error"] != nil {
		t.Fatalf("the greeter logged %v, want 5 messages and no error", l)
	}
}

func TestStreamOpenRetriesOnAnotherNode(t *testing.T) {
	const opens = 6
	openAll := func(t *testing.T, c *upstream.Client, live string) {
		t.Helper()
		for i := range opens {
			ctx, cancel := context.WithTimeout(context.Background(), streamWait)
			st, err := c.Stream(ctx, "greeter", "Greeter.Chat")
			if err != nil {
				cancel()
				t.Fatalf("open %d: %v", i, err)
			}
			if st.Node().Address != live {
				t.Fatalf("open %d: stream open to %s, want the live node %s", i, st.Node().Address, live)
			}
			greet(t, st, "Ada", 1)
			if err := st.Close(); err != nil {
				t.Fatalf("open %d: Close: %v", i, err)
			}
			cancel()
		}
	}

	t.Run("a dead address", func(t *testing.T) {
		dead := refused.Addr(t)
		_, live := startGreeterProc(t)
		c, tr := streamClient(t, dead, live)
		openAll(t, c, live)
		if tr.count(dead) == 0 {
			t.Fatalf("no handshake was tried on the dead node %s: the test proved nothing", dead)
		}
	})

	t.Run("a node that answers 503", func(t *testing.T) {
		failing, bad := startGreeterProc(t, "-fail")
		_, live := startGreeterProc(t)

		// The failing node refuses the handshake itself with 503.
		_, err := rpc.DialStream(boundedCtx(t), "http://"+bad+rpc.Path("Greeter.Chat"), rpc.DialOptions{})
		var re *rpc.Error
		if !errors.As(err, &re) || re.Status != http.StatusServiceUnavailable {
			t.Fatalf("handshake with a -fail greeter: %v, want an *rpc.Error with status 503", err)
		}

		c, tr := streamClient(t, bad, live)
		openAll(t, c, live)
		if tr.count(bad) < 2 { // the direct handshake above, and at least one of the client's
			t.Fatalf("%d handshakes reached the failing node, want the client to have tried it", tr.count(bad))
		}
		failing.waitLog(func(l map[string]any) bool {
			return l["msg"] == "failing on purpose" && l["path"] == rpc.Path("Greeter.Chat")
		})
	})
}

func TestStreamHandlerErrorClosesWith1011(t *testing.T) {
	g, addr := startGreeterProc(t)
	c, _ := streamClient(t, addr)
	st := openChat(t, c, context.Background())
	greet(t, st, "Ada", 1)
	if err := st.Send(boundedCtx(t), chatName{Name: ""}); err != nil {
		t.Fatalf("Send: %v", err)
	}
	err := st.Recv(boundedCtx(t), new(chatReply))
	wantStreamError(t, err, rpc.CloseHandlerError, "Bad Request: name is required")
	if l := chatEnded(g); !strings.Contains(fmt.Sprint(l["error"]), "name is required") {
		t.Fatalf("the greeter logged %v, want its own error", l)
	}
	// The stream is over for this side too.
	if err := st.Send(boundedCtx(t), chatName{Name: "Ada"}); err == nil {
		t.Fatal("Send on a stream the server closed succeeded")
	}
}

func TestStreamIdleTimeout(t *testing.T) {
	g, addr := startGreeterProc(t)
	c, _ := streamClient(t, addr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := openChat(t, c, ctx, upstream.WithStreamIdleTimeout(300*time.Millisecond))
	err := st.Recv(boundedCtx(t), new(chatReply))
	wantStreamError(t, err, rpc.CloseGoingAway, "idle")
	// The greeter was told why: the client's 1001 "idle".
	if l := chatEnded(g); !strings.Contains(fmt.Sprint(l["error"]), "1001: idle") {
		t.Fatalf("the greeter logged %v, want the client's 1001 idle", l)
	}
}

func TestStreamCallerContextEndsTheStream(t *testing.T) {
	g, addr := startGreeterProc(t)
	c, _ := streamClient(t, addr)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := openChat(t, c, ctx)
	greet(t, st, "Ada", 1)
	cancel()
	if err := st.Send(ctx, chatName{Name: "Grace"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Send after cancel = %v, want context.Canceled", err)
	}
	// With a context of its own, Recv still reports why the stream ended.
	if err := st.Recv(boundedCtx(t), new(chatReply)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Recv after cancel = %v, want an error wrapping context.Canceled", err)
	}
	// The greeter saw the stream end with 1001 and the reason.
	l := chatEnded(g)
	if !strings.Contains(fmt.Sprint(l["error"]), "1001: context canceled") || l["messages"] != float64(1) {
		t.Fatalf("the greeter logged %v, want 1 message and the client's 1001 context canceled", l)
	}
}

func TestStreamSIGKILLedServerEndsRecv(t *testing.T) {
	g, addr := startGreeterProc(t)
	c, _ := streamClient(t, addr)
	st := openChat(t, c, context.Background())
	greet(t, st, "Ada", 1)

	recvd := make(chan error, 1)
	rctx := boundedCtx(t)
	go func() { recvd <- st.Recv(rctx, new(chatReply)) }()
	g.signal(syscall.SIGKILL)
	_ = g.wait()
	err := <-recvd // bounded by its context
	var se *rpc.StreamError
	if !errors.Is(err, io.ErrUnexpectedEOF) && !errors.As(err, &se) {
		t.Fatalf("Recv after SIGKILL = %v, want an error wrapping io.ErrUnexpectedEOF or an *rpc.StreamError", err)
	}
	if err := st.Send(boundedCtx(t), chatName{Name: "Grace"}); err == nil {
		t.Fatal("Send to a killed server succeeded")
	}
	// Nothing listens there any more: a new stream fails with nothing sent.
	_, err = c.Stream(boundedCtx(t), "greeter", "Greeter.Chat")
	var ae *upstream.AttemptError
	if !errors.As(err, &ae) || ae.Sent {
		t.Fatalf("Stream to a killed node = %v, want an *upstream.AttemptError with nothing sent", err)
	}
}

// A greeter stopped with SIGTERM closes its open streams with 1001 "server
// shutting down", so that clients reopen them elsewhere, and then exits.
func TestStreamSIGTERMClosesStreamsWithGoingAway(t *testing.T) {
	g, addr := startGreeterProc(t)
	c, _ := streamClient(t, addr)
	st := openChat(t, c, context.Background())
	greet(t, st, "Ada", 1)

	g.signal(syscall.SIGTERM)
	err := st.Recv(boundedCtx(t), new(chatReply))
	wantStreamError(t, err, rpc.CloseGoingAway, "server shutting down")
	if l := chatEnded(g); l["messages"] != float64(1) {
		t.Fatalf("the greeter logged %v, want its handler ended after 1 message", l)
	}
	if err := g.wait(); err != nil {
		t.Fatalf("the greeter exited with %v after SIGTERM", err)
	}
}
