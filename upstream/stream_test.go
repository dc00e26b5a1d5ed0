package upstream_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/rpc"
	"github.com/sluicehq/sluice/upstream"
)

type chatMsg struct {
	Text string `json:"text"`
}

// echo is a stream handler that sends back every message until the client
// closes.
func echo(ctx context.Context, st *rpc.ServerStream) error {
	for {
		var m chatMsg
		if err := st.Recv(ctx, &m); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if err := st.Send(ctx, m); err != nil {
			return err
		}
	}
}

// streamBackend is a real backend serving streams as a Go backend does,
// behind budget.Inbound, that records the Sluice-Budget field of every
// handshake it gets.
type streamBackend struct {
	name string
	srv  *httptest.Server
	mu   sync.Mutex
	seen []string
}

func newStreamBackend(t *testing.T, name string, setup func(*rpc.StreamServer)) *streamBackend {
	t.Helper()
	streams := rpc.NewStreamServer()
	setup(streams)
	h := budget.Inbound(budget.ServerPolicy{})(rpc.Mux(rpc.NewServer(), streams))
	b := &streamBackend{name: name}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.seen = append(b.seen, r.Header.Get(budget.HeaderName))
		b.mu.Unlock()
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *streamBackend) node() *registry.Node {
	return &registry.Node{Service: service, ID: b.name, Address: b.srv.Listener.Addr().String()}
}

func (b *streamBackend) budgets() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.seen...)
}

func echoBackend(t *testing.T, name string) *streamBackend {
	return newStreamBackend(t, name, func(s *rpc.StreamServer) { rpc.RegisterStream(s, "Chat.Echo", echo) })
}

// openStream opens a stream that closes with the test.
func openStream(t *testing.T, c *upstream.Client, ctx context.Context, endpoint string, opts ...upstream.StreamOption) *upstream.Stream {
	t.Helper()
	st, err := c.Stream(ctx, service, endpoint, opts...)
	if err != nil {
		t.Fatalf("Stream: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// waitCtx returns a context that bounds one wait of a test.
func waitCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func TestStreamEcho(t *testing.T) {
	b := echoBackend(t, "a")
	c := newClient(t, staticOf(t, b.node()))
	st := openStream(t, c, context.Background(), "Chat.Echo")
	if st.Node().Address != b.node().Address {
		t.Fatalf("stream open to %s, want %s", st.Node().Address, b.node().Address)
	}
	ctx := waitCtx(t)
	for _, text := range []string{"hello", "", "日本語", strings.Repeat("x", 100_000)} {
		if err := st.Send(ctx, chatMsg{Text: text}); err != nil {
			t.Fatalf("Send: %v", err)
		}
		var got chatMsg
		if err := st.Recv(ctx, &got); err != nil {
			t.Fatalf("Recv: %v", err)
		}
		if got.Text != text {
			t.Fatalf("echo of %.20q is %.20q", text, got.Text)
		}
	}
	seen := b.budgets()
	if len(seen) != 1 {
		t.Fatalf("%d handshakes, want 1", len(seen))
	}
	h, err := budget.Parse(seen[0])
	if err != nil || h.Hop != 1 || h.Retries != 0 || h.Remaining <= 0 || h.Remaining > upstream.DefaultTimeout {
		t.Fatalf("handshake's Sluice-Budget %q (%+v, %v), want hop 1 and the default timeout at most", seen[0], h, err)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := st.Recv(ctx, new(chatMsg)); !errors.Is(err, rpc.ErrStreamClosed) {
		t.Fatalf("Recv after Close = %v, want rpc.ErrStreamClosed", err)
	}
	if err := st.Send(ctx, chatMsg{}); !errors.Is(err, rpc.ErrStreamClosed) {
		t.Fatalf("Send after Close = %v, want rpc.ErrStreamClosed", err)
	}
}

func TestStreamHandlerError(t *testing.T) {
	long := "x" + strings.Repeat("é", 100) // cut to fit a close frame, on a character boundary
	tests := []struct {
		name   string
		err    error
		reason string
	}{
		{"rpc error", rpc.Errorf(http.StatusConflict, "name taken"), "Conflict: name taken"},
		{"classified 5xx tells no cause", fmt.Errorf("querying %s: %w", "10.0.0.7:5432", context.DeadlineExceeded), "Budget spent"},
		{"plain error hides its text", errors.New("dial postgres://admin:hunter2@db: refused"), "Internal error"},
		{"long", rpc.Errorf(http.StatusBadRequest, "%s", long), ("Bad Request: " + long)[:122]}, // byte 123 is inside an é,
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newStreamBackend(t, "a", func(s *rpc.StreamServer) {
				rpc.RegisterStream(s, "Chat.Fail", func(ctx context.Context, st *rpc.ServerStream) error {
					var m chatMsg
					if err := st.Recv(ctx, &m); err != nil {
						return err
					}
					return tt.err
				})
			})
			c := newClient(t, staticOf(t, b.node()))
			st := openStream(t, c, context.Background(), "Chat.Fail")
			ctx := waitCtx(t)
			if err := st.Send(ctx, chatMsg{Text: "go"}); err != nil {
				t.Fatal(err)
			}
			err := st.Recv(ctx, new(chatMsg))
			var se *rpc.StreamError
			if !errors.As(err, &se) || se.Code != rpc.CloseHandlerError || se.Reason != tt.reason {
				t.Fatalf("Recv = %v, want a 1011 *rpc.StreamError with reason %q", err, tt.reason)
			}
			if len(se.Reason) > 123 || !utf8.ValidString(se.Reason) {
				t.Fatalf("reason of %d bytes, valid UTF-8 %v", len(se.Reason), utf8.ValidString(se.Reason))
			}
			if status, typ, _ := rpc.StatusOf(err); status != http.StatusBadGateway || typ != problem.TypeMaybeDone {
				t.Fatalf("StatusOf = %d %s, want 502 %s", status, typ, problem.TypeMaybeDone)
			}
		})
	}
}

// TestStreamCallerCancelEndsServerContext checks that cancelling the
// caller's context closes the stream with 1001 and cancels the handler's.
func TestStreamCallerCancelEndsServerContext(t *testing.T) {
	started := make(chan struct{}, 1)
	ended := make(chan error, 1)
	b := newStreamBackend(t, "a", func(s *rpc.StreamServer) {
		rpc.RegisterStream(s, "Chat.Wait", func(ctx context.Context, st *rpc.ServerStream) error {
			started <- struct{}{}
			select {
			case <-ctx.Done():
			case <-time.After(waitTimeout):
				ended <- errors.New("the handler's context was not cancelled")
				return nil
			}
			ended <- st.Recv(context.Background(), new(chatMsg))
			return nil
		})
	})
	c := newClient(t, staticOf(t, b.node()))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	st := openStream(t, c, ctx, "Chat.Wait")
	recv(t, started, "the handler to start")
	cancel()
	err := recv(t, ended, "the handler's context to end")
	var se *rpc.StreamError
	if !errors.As(err, &se) || se.Code != rpc.CloseGoingAway {
		t.Fatalf("the handler's Recv = %v, want a 1001 *rpc.StreamError", err)
	}
	if err := st.Recv(waitCtx(t), new(chatMsg)); !errors.Is(err, context.Canceled) {
		t.Fatalf("the caller's Recv = %v, want one wrapping context.Canceled", err)
	}
}

func TestStreamIdleTimeout(t *testing.T) {
	const idle = 100 * time.Millisecond
	tests := []struct {
		name       string
		serverIdle time.Duration
		opts       []upstream.StreamOption
	}{
		{"server's", idle, nil},
		{"client's", 0, []upstream.StreamOption{upstream.WithStreamIdleTimeout(idle)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			handlerErr := make(chan error, 1)
			b := newStreamBackend(t, "a", func(s *rpc.StreamServer) {
				s.IdleTimeout = tt.serverIdle
				rpc.RegisterStream(s, "Chat.Quiet", func(ctx context.Context, st *rpc.ServerStream) error {
					err := st.Recv(context.Background(), new(chatMsg))
					handlerErr <- err
					return err
				})
			})
			c := newClient(t, staticOf(t, b.node()))
			st := openStream(t, c, context.Background(), "Chat.Quiet", tt.opts...)
			// Nothing is sent either way: whichever side's idle timeout is
			// short closes the stream, and both ends say why.
			for who, err := range map[string]error{
				"the caller's Recv":  st.Recv(waitCtx(t), new(chatMsg)),
				"the handler's Recv": recv(t, handlerErr, "the handler's Recv to end"),
			} {
				var se *rpc.StreamError
				if !errors.As(err, &se) || se.Code != rpc.CloseGoingAway || se.Reason != "idle" {
					t.Errorf("%s = %v, want a 1001 idle *rpc.StreamError", who, err)
				}
			}
		})
	}
}

// TestStreamOutlivesHandshakeBudget checks the budget rule: the handshake
// carries and is bounded by the budget (here the client's default timeout,
// the caller's context having no deadline), but neither end applies it to
// the stream, which goes on after it has passed.
func TestStreamOutlivesHandshakeBudget(t *testing.T) {
	const timeout = 200 * time.Millisecond
	type seen struct {
		received    time.Duration
		hasDeadline bool
		ctxErr      error
	}
	report := make(chan seen, 1)
	b := newStreamBackend(t, "a", func(s *rpc.StreamServer) {
		rpc.RegisterStream(s, "Chat.Late", func(ctx context.Context, st *rpc.ServerStream) error {
			info, _ := budget.FromContext(ctx)
			_, hasDeadline := ctx.Deadline()
			// Wait for the received budget to pass: a condition, not a guess.
			<-time.After(time.Until(info.Deadline) + 10*time.Millisecond)
			report <- seen{info.Received, hasDeadline, ctx.Err()}
			if err := st.Send(ctx, chatMsg{Text: "still here"}); err != nil {
				return err
			}
			return echo(ctx, st)
		})
	})
	c := newClient(t, staticOf(t, b.node()), upstream.WithDefaultTimeout(timeout))
	st := openStream(t, c, context.Background(), "Chat.Late")
	got := recv(t, report, "the handler to outlive its budget")
	if got.received <= 0 || got.received > timeout || got.hasDeadline || got.ctxErr != nil {
		t.Fatalf("handler saw %+v, want a received budget of at most %v, no deadline and a live context", got, timeout)
	}
	ctx := waitCtx(t)
	var m chatMsg
	if err := st.Recv(ctx, &m); err != nil || m.Text != "still here" {
		t.Fatalf("Recv after the budget = %+v, %v", m, err)
	}
	if err := st.Send(ctx, chatMsg{Text: "me too"}); err != nil {
		t.Fatalf("Send after the budget: %v", err)
	}
	if err := st.Recv(ctx, &m); err != nil || m.Text != "me too" {
		t.Fatalf("echo after the budget = %+v, %v", m, err)
	}
}

// TestStreamFailedOpenGoesElsewhere checks which failed handshakes are tried
// again on another node: those that could not connect, and 502-504 answers.
func TestStreamFailedOpenGoesElsewhere(t *testing.T) {
	refusing := func(code int, retry string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if retry != "" {
				w.Header().Set(upstream.RetryHeader, retry)
			}
			problem.Write(w, code, "urn:test:refused", "Refused", "")
		}
	}
	tests := []struct {
		name       string
		bad        func(t *testing.T) *registry.Node
		maxRetries int
		opened     bool
		check      func(t *testing.T, err error)
	}{
		{"dead node", func(t *testing.T) *registry.Node { return deadNode(t, "bad") }, 2, true, nil},
		{"503", func(t *testing.T) *registry.Node { return newBackend(t, "bad", refusing(503, "")).node() }, 2, true, nil},
		{"503 not processed", func(t *testing.T) *registry.Node {
			return newBackend(t, "bad", refusing(503, upstream.RetryNotProcessed)).node()
		}, 2, true, nil},
		{"dead node, no retries", func(t *testing.T) *registry.Node { return deadNode(t, "bad") }, 0, false,
			func(t *testing.T, err error) {
				var ae *upstream.AttemptError
				if !errors.As(err, &ae) || ae.Sent {
					t.Fatalf("error %v, want an unsent *AttemptError", err)
				}
			}},
		{"500 is the application's", func(t *testing.T) *registry.Node {
			return newBackend(t, "bad", refusing(500, "")).node()
		}, 2, false, wantRPCError(500, "urn:test:refused")},
		{"503 with Sluice-Retry: no", func(t *testing.T) *registry.Node {
			return newBackend(t, "bad", refusing(503, upstream.RetryNo)).node()
		}, 2, false, wantRPCError(503, "urn:test:refused")},
		{"404", func(t *testing.T) *registry.Node {
			return echoBackend(t, "bad").node()
		}, 2, false, wantRPCError(404, problem.TypeNotFound)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			good := echoBackend(t, "good")
			c := newClient(t, staticOf(t, tt.bad(t), good.node()), upstream.WithStrategy(inOrder),
				upstream.WithRetryPolicy(fastRetries(tt.maxRetries)))
			endpoint := "Chat.Echo"
			if tt.name == "404" {
				endpoint = "Chat.Nope" // unknown to both nodes: the first one's answer stands
			}
			st, err := c.Stream(context.Background(), service, endpoint)
			if !tt.opened {
				if err == nil {
					st.Close()
					t.Fatal("the stream opened")
				}
				tt.check(t, err)
				if n := len(good.budgets()); n != 0 {
					t.Fatalf("a handshake that may not be retried went to another node (%d)", n)
				}
				return
			}
			if err != nil {
				t.Fatalf("Stream: %v", err)
			}
			defer st.Close()
			if st.Node().ID != "good" {
				t.Fatalf("open to %s, want the good node", st.Node())
			}
			seen := good.budgets()
			if len(seen) != 1 || !strings.HasSuffix(seen[0], "hop=1, retry=1") {
				t.Fatalf("good node's handshakes carried %q, want one with hop=1, retry=1", seen)
			}
			ctx := waitCtx(t)
			var m chatMsg
			if err := st.Send(ctx, chatMsg{Text: "hi"}); err != nil {
				t.Fatal(err)
			}
			if err := st.Recv(ctx, &m); err != nil || m.Text != "hi" {
				t.Fatalf("echo %+v, %v", m, err)
			}
		})
	}
}

func wantRPCError(status int, typ string) func(t *testing.T, err error) {
	return func(t *testing.T, err error) {
		t.Helper()
		var re *rpc.Error
		if !errors.As(err, &re) || re.Status != status || re.Type != typ {
			t.Fatalf("error %v, want an *rpc.Error %d %s", err, status, typ)
		}
	}
}

func TestStreamNoNodes(t *testing.T) {
	c := newClient(t, staticOf(t))
	_, err := c.Stream(context.Background(), "nope", "Chat.Echo")
	var nn *upstream.NoNodesError
	if !errors.As(err, &nn) || !errors.Is(err, registry.ErrNotFound) {
		t.Fatalf("error %v, want a *NoNodesError wrapping registry.ErrNotFound", err)
	}
	if _, err := c.Stream(context.Background(), "nope", "Chat"); !errors.Is(err, rpc.ErrBadEndpoint) {
		t.Fatalf("malformed endpoint: %v, want rpc.ErrBadEndpoint", err)
	}
}

// ChatMessage is the message of the example's Chat.Shout.
type ChatMessage struct {
	Text string `json:"text"`
}

// A backend serves a stream endpoint with rpc.StreamServer, mounted with its
// unary endpoints by rpc.Mux; another service opens a stream to it by name,
// sends and receives messages, and closes it.
func ExampleClient_Stream() {
	streams := rpc.NewStreamServer()
	rpc.RegisterStream(streams, "Chat.Shout", func(ctx context.Context, st *rpc.ServerStream) error {
		for {
			var msg ChatMessage
			err := st.Recv(ctx, &msg)
			if err == io.EOF {
				return nil // the caller closed the stream
			}
			if err != nil {
				return err
			}
			if err := st.Send(ctx, ChatMessage{Text: strings.ToUpper(msg.Text) + "!"}); err != nil {
				return err
			}
		}
	})
	mux := http.NewServeMux()
	mux.Handle(rpc.PathPrefix, rpc.Mux(rpc.NewServer(), streams))
	backend := httptest.NewServer(budget.Inbound(budget.ServerPolicy{})(mux))
	defer backend.Close()

	reg, err := registry.NewStatic(&registry.Node{Service: "chat", Address: backend.Listener.Addr().String()})
	if err != nil {
		log.Fatal(err)
	}
	client := upstream.New(reg)

	ctx := context.Background() // the stream lives until Close, or until ctx ends
	st, err := client.Stream(ctx, "chat", "Chat.Shout")
	if err != nil {
		log.Fatal(err)
	}
	defer st.Close()
	for _, text := range []string{"hello", "bye"} {
		if err := st.Send(ctx, ChatMessage{Text: text}); err != nil {
			log.Fatal(err)
		}
		var reply ChatMessage
		if err := st.Recv(ctx, &reply); err != nil {
			log.Fatal(err)
		}
		fmt.Println(reply.Text)
	}
	// Output:
	// HELLO!
	// BYE!
}
