package rpc_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/rpc"
	"github.com/sluicehq/sluice/upstream"
)

// A caller that half-closes its connection once its request is sent is
// still reading, but net/http takes the end of its input for its leaving
// and cancels the request: the handler's call to another service fails
// with context.Canceled, answered 499. Its detail was the upstream
// client's error text, naming the other service's node, its address and
// the transport's error: what no 5xx tells (detailOf).
func TestA499TellsNothingOfTheCallThatFailed(t *testing.T) {
	reached, release := make(chan struct{}, 1), make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case reached <- struct{}{}:
		default: // a later attempt's
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer slow.Close()
	defer close(release)
	node := strings.TrimPrefix(slow.URL, "http://")
	reg, err := registry.NewStatic(&registry.Node{Service: "pricing", Address: node})
	if err != nil {
		t.Fatal(err)
	}
	client := upstream.New(reg)
	s := rpc.NewServer()
	rpc.Register(s, "Orders.Get", func(ctx context.Context, req *echoReq) (*echoRsp, error) {
		var rsp echoRsp
		if err := client.Call(ctx, "pricing", "Pricing.Quote", req, &rsp); err != nil {
			return nil, err
		}
		return &rsp, nil
	})
	addr, _ := auditServer(t, budget.Inbound(budget.ServerPolicy{})(s))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(auditAnswerWait))
	_, _ = io.WriteString(c, "POST /rpc/Orders.Get HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
	select {
	case <-reached: // the handler is calling pricing
	case <-time.After(auditAnswerWait):
		t.Fatal("the handler never called pricing")
	}
	_ = c.(*net.TCPConn).CloseWrite()
	got, _ := io.ReadAll(c)
	if strings.Contains(string(got), node) || strings.Contains(string(got), `"detail"`) {
		t.Fatalf("the answer tells of the failed call (pricing is %s):\n%s", node, got)
	}
}
