package rpc_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/rpc"
)

// TestAuditHostileRequestsAreRefusedBeforeTheHandler sends a backend
// (rpc.Server behind budget.Inbound, over a real connection) requests a
// client that reaches it directly may send: each is answered with the
// convention's 4xx or 504 problem, on a connection that does not hang,
// and none runs the handler.
func TestAuditHostileRequestsAreRefusedBeforeTheHandler(t *testing.T) {
	s := rpc.NewServer()
	s.MaxBodyBytes = 4096
	var ran atomic.Int64
	rpc.Register(s, "Greeter.Hello", func(_ context.Context, req *echoReq) (*echoRsp, error) {
		ran.Add(1)
		return &echoRsp{Name: req.Name}, nil
	})
	addr, errorLog := auditServer(t, budget.Inbound(budget.ServerPolicy{})(s))
	deep := strings.Repeat("[", 2000) + strings.Repeat("]", 2000)
	post := func(path, headers, body string) string {
		return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: b\r\n%sContent-Length: %d\r\n\r\n%s", path, headers, len(body), body)
	}
	json := "Content-Type: application/json\r\n"
	tests := []struct {
		name, req string
		status    int
		typ       string
	}{
		{"encoded slash and dots", post("/rpc/Greeter.Hello%2F..", json, `{}`), 404, problem.TypeNotFound},
		{"encoded dots before the name", post("/rpc/..%2FGreeter.Hello", json, `{}`), 404, problem.TypeNotFound},
		{"trailing slash", post("/rpc/Greeter.Hello/", json, `{}`), 404, problem.TypeNotFound},
		{"case differs", post("/rpc/greeter.hello", json, `{}`), 404, problem.TypeNotFound},
		{"no method", post("/rpc/Greeter", json, `{}`), 404, problem.TypeNotFound},
		{"NUL in the name", post("/rpc/Greeter.Hello%00", json, `{}`), 404, problem.TypeNotFound},
		{"GET", "GET /rpc/Greeter.Hello HTTP/1.1\r\nHost: b\r\n\r\n", 405, problem.TypeMethod},
		{"PUT", "PUT" + strings.TrimPrefix(post("/rpc/Greeter.Hello", json, `{}`), "POST"), 405, problem.TypeMethod},
		{"form", post("/rpc/Greeter.Hello", "Content-Type: application/x-www-form-urlencoded\r\n", `a=b`), 415, problem.TypeBadRequest},
		{"bad media type", post("/rpc/Greeter.Hello", "Content-Type: application/json;;\r\n", `{}`), 415, problem.TypeBadRequest},
		{"json suffix", post("/rpc/Greeter.Hello", "Content-Type: application/jsonx\r\n", `{}`), 415, problem.TypeBadRequest},
		{"too large", post("/rpc/Greeter.Hello", json, `{"name":"`+strings.Repeat("a", 5000)+`"}`), 413, problem.TypeBadRequest},
		{"nested arrays for an object", post("/rpc/Greeter.Hello", json, deep), 400, problem.TypeBadRequest},
		{"trailing garbage", post("/rpc/Greeter.Hello", json, `{"name":"a"} x`), 400, problem.TypeBadRequest},
		{"two values", post("/rpc/Greeter.Hello", json, `{} {}`), 400, problem.TypeBadRequest},
		{"not UTF-8", post("/rpc/Greeter.Hello", json, "{\"name\":\"\xff\"}"), 400, problem.TypeBadRequest},
		{"lone surrogate escape is UTF-8 text", post("/rpc/Greeter.Hello", json, `{"name":"\ud800"}`), 200, ""},
		{"wrong type", post("/rpc/Greeter.Hello", json, `{"count":"1"}`), 400, problem.TypeBadRequest},
		{"number overflow", post("/rpc/Greeter.Hello", json, `{"count":1e400}`), 400, problem.TypeBadRequest},
		{"spent budget", post("/rpc/Greeter.Hello", json+"Sluice-Budget: ms=0\r\n", `{}`), 504, problem.TypeBudgetTooLow},
		{"bad chunked framing", "POST /rpc/Greeter.Hello HTTP/1.1\r\nHost: b\r\n" + json + "Transfer-Encoding: chunked\r\n\r\nzz\r\n", 400, problem.TypeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := ran.Load()
			resp, body := dialAudit(t, addr).exchange(t, tt.req)
			if tt.status == 200 {
				if resp.StatusCode != 200 {
					t.Fatalf("answer %d %q, want 200", resp.StatusCode, body)
				}
				return
			}
			if resp.StatusCode != tt.status || !problem.IsProblem(resp.Header.Get("Content-Type")) ||
				!strings.Contains(body, `"type":"`+tt.typ+`"`) {
				t.Fatalf("answer %d %q, want a %d %s problem", resp.StatusCode, body, tt.status, tt.typ)
			}
			if ran.Load() != before {
				t.Fatal("the handler ran")
			}
		})
	}
	if l := errorLog.String(); l != "" {
		t.Fatalf("the server logged %q", l)
	}
}

// TestAuditDeclaredTooLargeIsRefusedBeforeContinue holds the server to
// refusing a body whose declared length is over its limit before reading
// any of it: a client that asked to continue (Expect: 100-continue) gets
// the 413 instead of an invitation to send the bytes that will be refused
// (before, 100 Continue came first, and the server read up to its limit).
func TestAuditDeclaredTooLargeIsRefusedBeforeContinue(t *testing.T) {
	s := rpc.NewServer()
	s.MaxBodyBytes = 4096
	rpc.Register(s, "Greeter.Hello", func(_ context.Context, req *echoReq) (*echoRsp, error) {
		return &echoRsp{Name: req.Name}, nil
	})
	addr, _ := auditServer(t, budget.Inbound(budget.ServerPolicy{})(s))
	resp, body := dialAudit(t, addr).exchange(t, "POST /rpc/Greeter.Hello HTTP/1.1\r\nHost: b\r\n"+
		"Content-Type: application/json\r\nExpect: 100-continue\r\nContent-Length: 4097\r\n\r\n")
	if resp.StatusCode != 413 || !strings.Contains(body, `"type":"`+problem.TypeBadRequest+`"`) {
		t.Fatalf("answer %d %q, want a 413 problem before any of the body", resp.StatusCode, body)
	}
}
