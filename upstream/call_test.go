package upstream_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/rpc"
	"github.com/sluicehq/sluice/upstream"
)

type helloReq struct {
	Name string `json:"name"`
}

type helloRsp struct {
	Greeting string `json:"greeting"`
}

func TestCallSuccess(t *testing.T) {
	b := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"greeting":"Hello, Ada"}`)
	})
	c := newClient(t, staticOf(t, b.node()))
	var rsp helloRsp
	if err := c.Call(context.Background(), service, "Greeter.Hello", helloReq{Name: "Ada"}, &rsp); err != nil {
		t.Fatal(err)
	}
	if rsp.Greeting != "Hello, Ada" {
		t.Fatalf("decoded %+v", rsp)
	}
	want := hit{Method: http.MethodPost, Path: "/rpc/Greeter.Hello", Host: service,
		ContentType: "application/json", Body: `{"name":"Ada"}`}
	h := b.seen()
	if len(h) != 1 {
		t.Fatalf("%d requests", len(h))
	}
	got := h[0]
	got.Budget = ""
	if got != want {
		t.Fatalf("backend saw %+v, want %+v", got, want)
	}
}

func TestCallAnswers(t *testing.T) {
	tests := []struct {
		name    string
		handler http.HandlerFunc
		rsp     bool // decode into a response
		want    *rpc.Error
		wantErr bool // a non-rpc error
	}{
		{"success discarded", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, `{"greeting":"ignored"}`)
		}, false, nil, false},
		{"success that is not JSON", func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, `<html>`)
		}, true, nil, true},
		{"problem", func(w http.ResponseWriter, r *http.Request) {
			problem.Write(w, http.StatusConflict, "urn:test:conflict", "Already taken", `"ada" exists`)
		}, true, &rpc.Error{Status: 409, Type: "urn:test:conflict", Title: "Already taken", Detail: `"ada" exists`}, false},
		{"problem without title", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/problem+json; charset=utf-8")
			w.WriteHeader(http.StatusUnprocessableEntity)
			_, _ = io.WriteString(w, `{"type":"urn:test:x","status":422}`)
		}, true, &rpc.Error{Status: 422, Type: "urn:test:x", Title: "Unprocessable Entity"}, false},
		{"problem whose body lies about the status", func(w http.ResponseWriter, r *http.Request) {
			problem.Write(w, http.StatusServiceUnavailable, "urn:test:y", "Y", "")
			// the status line wins over {"status":200}
		}, true, &rpc.Error{Status: 503, Type: "urn:test:y", Title: "Y"}, false},
		{"plain text 4xx", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "  no such widget  ", http.StatusNotFound)
		}, true, &rpc.Error{Status: 404, Title: "Not Found", Detail: "no such widget"}, false},
		{"plain text 5xx", func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "  boom  ", http.StatusInternalServerError) // not kept: decodeError
		}, true, &rpc.Error{Status: 500, Title: "Internal Server Error"}, false},
		{"empty error", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNotFound)
		}, true, &rpc.Error{Status: 404, Title: "Not Found"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := newBackend(t, "b", tt.handler)
			c := newClient(t, staticOf(t, b.node()))
			var rsp any // an untyped nil discards the answer
			if tt.rsp {
				rsp = new(helloRsp)
			}
			err := c.Call(context.Background(), service, "Greeter.Hello", helloReq{}, rsp)
			var re *rpc.Error
			switch {
			case tt.want != nil:
				if !errors.As(err, &re) || *re != *tt.want {
					t.Fatalf("error %#v, want %#v", err, tt.want)
				}
				if status, _, _ := rpc.StatusOf(err); status != tt.want.Status {
					t.Fatalf("StatusOf = %d, want the node's %d", status, tt.want.Status)
				}
			case tt.wantErr:
				if err == nil || errors.As(err, &re) {
					t.Fatalf("error %v, want a decoding error", err)
				}
			case err != nil:
				t.Fatal(err)
			}
			if n := len(b.seen()); n != 1 {
				t.Fatalf("%d requests, want 1: answers are not retried", n)
			}
		})
	}
}

func TestCallUnencodableRequest(t *testing.T) {
	b := newBackend(t, "b", nil)
	c := newClient(t, staticOf(t, b.node()))
	if err := c.Call(context.Background(), service, "Greeter.Hello", func() {}, nil); err == nil {
		t.Fatal("Call encoded a func")
	}
	if n := len(b.seen()); n != 0 {
		t.Fatalf("%d requests sent", n)
	}
}

// TestCallReplaysBodyOnRetry checks that a retried call sends its whole body
// again: GetBody is set, and the refused first attempt does not eat it.
func TestCallReplaysBodyOnRetry(t *testing.T) {
	b := newBackend(t, "b", nil)
	c := newClient(t, staticOf(t, deadNode(t, "dead"), b.node()), upstream.WithStrategy(inOrder))
	if err := c.Call(context.Background(), service, "Greeter.Hello", helloReq{Name: "Ada"}, nil); err != nil {
		t.Fatal(err)
	}
	if h := b.seen(); len(h) != 1 || h[0].Body != `{"name":"Ada"}` || !strings.HasSuffix(h[0].Budget, ", hop=1, retry=1") {
		t.Fatalf("backend saw %+v", h)
	}
}

// budgetRsp reports what a backend's handler found in its context.
type budgetRsp struct {
	Hop, Retries int
	Received     int64 // milliseconds
	Next         *budgetRsp
}

// TestCallChain runs a call through two real rpc backends behind
// budget.Inbound: each hop sees its number, and the budget only shrinks.
func TestCallChain(t *testing.T) {
	reg := staticOf(t)
	client := newClient(t, reg)
	serve := func(name string, next string) {
		srv := rpc.NewServer()
		rpc.Register(srv, "Chain.Get", func(ctx context.Context, _ *struct{}) (*budgetRsp, error) {
			info, ok := budget.FromContext(ctx)
			if !ok {
				return nil, errors.New("no budget in the context")
			}
			rsp := &budgetRsp{Hop: info.Hop, Retries: info.Retries, Received: info.Received.Milliseconds()}
			if next != "" {
				rsp.Next = new(budgetRsp)
				if err := client.Call(ctx, next, "Chain.Get", struct{}{}, rsp.Next); err != nil {
					return nil, err
				}
			}
			return rsp, nil
		})
		b := newBackend(t, name, budget.Inbound(budget.ServerPolicy{})(srv).ServeHTTP)
		n := b.node()
		n.Service = name
		reg.Set(name, append([]*registry.Node(nil), n))
	}
	serve("back", "")
	serve("front", "back")
	var rsp budgetRsp
	if err := client.Call(context.Background(), "front", "Chain.Get", struct{}{}, &rsp); err != nil {
		t.Fatal(err)
	}
	if rsp.Hop != 1 || rsp.Next == nil || rsp.Next.Hop != 2 || rsp.Retries != 0 || rsp.Next.Retries != 0 {
		t.Fatalf("chain saw %+v then %+v, want hops 1 then 2", rsp, rsp.Next)
	}
	if rsp.Received > upstream.DefaultTimeout.Milliseconds() || rsp.Next.Received >= rsp.Received {
		t.Fatalf("budgets %d ms then %d ms: they must shrink from the default", rsp.Received, rsp.Next.Received)
	}
}
