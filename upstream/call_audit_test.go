package upstream_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/rpc"
	"github.com/sluicehq/sluice/upstream"
)

// A callee is a peer like any other: what it answers is bounded and read as
// strictly as rpc.Server reads requests.

const (
	// answerBound is the bound the tests set, small so that the socket
	// buffers dwarf it.
	answerBound = 64 << 10
	// floodCap is where a flooding callee gives up: far more than the
	// loopback's socket buffers can hold, so that a caller that read to
	// the end is told from one that stopped at its bound.
	floodCap = 64 << 20
	// bufferSlack is what the kernel's send and receive buffers (and the
	// transport's reader) may hold of a flood the caller never read.
	bufferSlack = 24 << 20
)

// flood is a callee answering 200 with an endless JSON array, in 64 KiB
// writes, until a write fails (the caller closed the connection), the
// request ends, or floodCap is written. written counts the bytes of the
// writes that succeeded; done is closed when the handler returns.
type flood struct {
	written atomic.Int64
	done    chan struct{}
	length  bool // declare a Content-Length of floodCap
}

func newFlood() *flood { return &flood{done: make(chan struct{})} }

func (f *flood) serve(w http.ResponseWriter, r *http.Request) {
	defer close(f.done)
	w.Header().Set("Content-Type", "application/json")
	if f.length {
		w.Header().Set("Content-Length", fmt.Sprint(floodCap))
	}
	chunk := []byte("[" + strings.Repeat("0,", 32<<10-1) + "0")
	for f.written.Load() < floodCap && r.Context().Err() == nil {
		n, err := w.Write(chunk)
		if err != nil {
			return
		}
		f.written.Add(int64(n))
		chunk[0] = ','
	}
}

// callFlood calls a flooding callee through the client's default transport
// (the h1 one) and net/http's, and returns each call's error and what the
// callee wrote.
func callFlood(t *testing.T, length bool, rsp func() any) {
	for _, tr := range []struct {
		name string
		opt  []upstream.Option
	}{{"h1", nil}, {"net/http", []upstream.Option{upstream.WithTransport(upstream.NewTransport())}}} {
		t.Run(tr.name, func(t *testing.T) {
			f := newFlood()
			f.length = length
			be := newBackend(t, "flood", f.serve)
			c := upstream.New(staticOf(t, be.node()), append(tr.opt, upstream.WithMaxAnswerBytes(answerBound))...)
			err := c.Call(context.Background(), service, "Big.Answer", struct{}{}, rsp())
			recv(t, f.done, "the callee's end")
			if w := f.written.Load(); w > answerBound+bufferSlack {
				t.Errorf("the callee wrote %d bytes before the caller stopped it; the bound is %d", w, answerBound)
			}
			if rsp() == nil {
				if err != nil {
					t.Errorf("a discarded answer over the bound failed the call: %v", err)
				}
				return
			}
			checkTooLarge(t, err)
		})
	}
}

// checkTooLarge asserts err is the error of an answer over answerBound.
func checkTooLarge(t *testing.T, err error) {
	t.Helper()
	var ae *upstream.AnswerError
	if !errors.Is(err, upstream.ErrAnswerTooLarge) || !errors.As(err, &ae) || ae.Limit != answerBound {
		t.Fatalf("Call = %v, want an *AnswerError wrapping ErrAnswerTooLarge, limit %d", err, answerBound)
	}
	if want := fmt.Sprintf("exceeded %d bytes", answerBound); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if status, typ, _ := rpc.StatusOf(err); status != http.StatusBadGateway || typ != problem.TypeMaybeDone {
		t.Errorf("StatusOf = %d %s, want 502 %s", status, typ, problem.TypeMaybeDone)
	}
}

// TestAuditCallBoundsTheAnswer has a callee answer an endless array: Call
// stops reading it at the client's bound and fails with ErrAnswerTooLarge,
// where it read (and buffered) whatever the callee sent.
func TestAuditCallBoundsTheAnswer(t *testing.T) {
	callFlood(t, false, func() any { return new([]int) })
}

// TestAuditCallRefusesADeclaredLargeAnswer: an answer whose Content-Length
// is over the bound is refused before its body is read.
func TestAuditCallRefusesADeclaredLargeAnswer(t *testing.T) {
	callFlood(t, true, func() any { return new([]int) })
}

// TestAuditCallBoundsADiscardedAnswer: with a nil rsp, Call drains the
// answer up to the bound and then closes it; the call, whose status was a
// success, succeeds.
func TestAuditCallBoundsADiscardedAnswer(t *testing.T) {
	callFlood(t, false, func() any { return nil })
}

// TestAuditCallAnswerAtTheBound: an answer of exactly the bound is taken.
func TestAuditCallAnswerAtTheBound(t *testing.T) {
	body := `"` + strings.Repeat("a", answerBound-2) + `"`
	be := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, body) })
	c := newClient(t, staticOf(t, be.node()), upstream.WithMaxAnswerBytes(answerBound))
	var got string
	if err := c.Call(context.Background(), service, "Big.Answer", nil, &got); err != nil || len(got) != answerBound-2 {
		t.Fatalf("Call = %v, %d bytes; want the whole answer", err, len(got))
	}
	be = newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, body+" ") })
	c = newClient(t, staticOf(t, be.node()), upstream.WithMaxAnswerBytes(answerBound))
	checkTooLarge(t, c.Call(context.Background(), service, "Big.Answer", nil, &got))
}

// TestAuditCallDefaultAnswerBound: with no option, the bound is
// DefaultMaxAnswerBytes.
func TestAuditCallDefaultAnswerBound(t *testing.T) {
	be := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", fmt.Sprint(upstream.DefaultMaxAnswerBytes+1))
	})
	c := newClient(t, staticOf(t, be.node()))
	var ae *upstream.AnswerError
	err := c.Call(context.Background(), service, "Big.Answer", nil, new(any))
	if !errors.As(err, &ae) || ae.Limit != upstream.DefaultMaxAnswerBytes {
		t.Fatalf("Call = %v, want an *AnswerError with limit %d", err, upstream.DefaultMaxAnswerBytes)
	}
}

// TestAuditCallAnswerIsOneJSONValue: an answer is one JSON value and then
// only white space, as rpc.Server takes a request; anything after the
// value fails the call, 502, as a value that does not fit rsp does.
func TestAuditCallAnswerIsOneJSONValue(t *testing.T) {
	for _, tt := range []struct {
		body string
		ok   bool
	}{
		{`{"greeting":"hi"}`, true},
		{"{\"greeting\":\"hi\"}\n \t\r\n", true},
		{`{"greeting":"hi"}xyz`, false},
		{`{"greeting":"hi"}{"greeting":"evil"}`, false},
		{`{"greeting":"hi"} 1`, false},
		{`{"greeting":1}`, false},
		{`{"greeting":`, false},
	} {
		be := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, tt.body)
		})
		c := newClient(t, staticOf(t, be.node()))
		var rsp helloRsp
		err := c.Call(context.Background(), service, "Greeter.Hello", nil, &rsp)
		if tt.ok {
			if err != nil || rsp.Greeting != "hi" {
				t.Errorf("answer %q: Call = %v, %+v", tt.body, err, rsp)
			}
			continue
		}
		var ae *upstream.AnswerError
		if !errors.As(err, &ae) || errors.Is(err, upstream.ErrAnswerTooLarge) {
			t.Errorf("answer %q: Call = %v, want an *AnswerError", tt.body, err)
			continue
		}
		if status, typ, _ := rpc.StatusOf(err); status != http.StatusBadGateway || typ != problem.TypeMaybeDone {
			t.Errorf("answer %q: StatusOf = %d %s, want 502 %s", tt.body, status, typ, problem.TypeMaybeDone)
		}
	}
}

// TestAuditCallBadResponseTypeIsTheCallers: a rsp that no JSON decodes into
// (not a pointer) is the caller's bug, 500, not the callee's.
func TestAuditCallBadResponseTypeIsTheCallers(t *testing.T) {
	be := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, `{}`) })
	c := newClient(t, staticOf(t, be.node()))
	err := c.Call(context.Background(), service, "Greeter.Hello", nil, helloRsp{})
	var ae *upstream.AnswerError
	if err == nil || errors.As(err, &ae) {
		t.Fatalf("Call = %v, want the decoder's refusal of rsp", err)
	}
	if status, _, _ := rpc.StatusOf(err); status != http.StatusInternalServerError {
		t.Errorf("StatusOf = %d, want 500", status)
	}
}

// TestAuditCallAnswerCutShort: a body that fails as it arrives is the read
// error it was, not an unusable answer: a budget that ran out stays 504.
func TestAuditCallAnswerCutShort(t *testing.T) {
	be := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		_, _ = io.WriteString(w, `{"greeting":`)
		_ = http.NewResponseController(w).Flush()
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := upstream.New(staticOf(t, be.node()), upstream.WithCallWrapper(func(next upstream.CallFunc) upstream.CallFunc {
		return func(r *http.Request) (*http.Response, error) {
			resp, err := next(r)
			cancel() // the caller leaves once the head is in
			return resp, err
		}
	}))
	err := c.Call(ctx, service, "Greeter.Hello", nil, new(helloRsp))
	var ae *upstream.AnswerError
	if !errors.Is(err, context.Canceled) || errors.As(err, &ae) {
		t.Fatalf("Call = %v, want the caller's cancellation", err)
	}
}

// A client bounds the answers its calls read: here to 1 KiB, and a callee
// answering more fails the call with 502 rather than making its caller
// hold all of it.
func ExampleWithMaxAnswerBytes() {
	callee := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `"`+strings.Repeat("x", 4096)+`"`)
	}))
	defer callee.Close()
	reg, _ := registry.NewStatic(&registry.Node{Service: "big", Address: callee.Listener.Addr().String()})
	client := upstream.New(reg, upstream.WithMaxAnswerBytes(1<<10))

	var rsp string
	err := client.Call(context.Background(), "big", "Big.Answer", nil, &rsp)
	status, typ, _ := rpc.StatusOf(err)
	fmt.Println(err)
	fmt.Println(errors.Is(err, upstream.ErrAnswerTooLarge), status, typ)
	// Output:
	// upstream: the answer of big.Big.Answer exceeded 1024 bytes
	// true 502 urn:sluice:problem:may-have-been-processed
}

// TestAuditCallRefusesAPathForAnEndpoint: Call sends only Service.Method
// endpoints, as Stream does; any other name would reach another path of
// the node ("/rpc/../admin" is sent as it is), so it is refused before
// anything is sent, with an error wrapping rpc.ErrBadEndpoint.
func TestAuditCallRefusesAPathForAnEndpoint(t *testing.T) {
	be := newBackend(t, "b", nil)
	c := newClient(t, staticOf(t, be.node()))
	for _, e := range []string{"../admin", "A.B/../../debug", "A.B?x=1", "A.B#f", "A .B", "A.B\r\nX: 1", "", "A", "A.B.C", "A/B.C"} {
		err := c.Call(context.Background(), service, e, nil, nil)
		if !errors.Is(err, rpc.ErrBadEndpoint) {
			t.Errorf("endpoint %q: Call = %v, want rpc.ErrBadEndpoint", e, err)
		}
	}
	if h := be.seen(); len(h) != 0 {
		t.Fatalf("the node was sent %+v", h)
	}
}
