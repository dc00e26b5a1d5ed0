package rpc_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/rpc"
)

// A caller that reads none of a large answer does not hold the handler
// past its budget and rpc.AnswerGrace: the writing of the answer fails
// then, where it blocked for as long as the caller kept its connection.
func TestAnAnswerNobodyReadsEndsAfterTheBudget(t *testing.T) {
	big := strings.Repeat("x", 32<<20)
	s := rpc.NewServer()
	rpc.Register(s, "Files.Get", func(ctx context.Context, req *echoReq) (*echoRsp, error) {
		return &echoRsp{Name: big}, nil
	})
	served := make(chan time.Time, 1)
	addr, _ := auditServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		budget.Inbound(budget.ServerPolicy{})(s).ServeHTTP(w, r)
		served <- time.Now()
	}))
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	start := time.Now()
	req := "POST /rpc/Files.Get HTTP/1.1\r\nHost: b\r\nContent-Type: application/json\r\nSluice-Budget: ms=100\r\nContent-Length: 2\r\n\r\n{}"
	if _, err := io.Copy(c, bytes.NewReader([]byte(req))); err != nil {
		t.Fatal(err)
	}
	// Without the grace the write waits for as long as the connection is
	// kept, which here is the test's whole run. How soon after the grace
	// it ends is the machine's pace (encoding 32 MiB under the race
	// detector took 3.6 s on a loaded machine), so the bound is far.
	select {
	case at := <-served:
		t.Logf("the handler ended %v after the request, its budget 100 ms", at.Sub(start))
	case <-time.After(30 * time.Second):
		t.Fatalf("the handler still writes an answer nobody reads 30 s after its 100 ms budget")
	}
}
