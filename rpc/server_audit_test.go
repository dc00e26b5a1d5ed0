package rpc_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/rpc"
)

// auditAnswerWait bounds the wait for an answer that, without the fixes
// these tests hold, never comes: the test then fails instead of hanging.
// It is no timing assertion; a correct server answers at once.
const auditAnswerWait = 30 * time.Second

// syncBuffer is a bytes.Buffer that a server's log and the test may share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// auditServer serves h behind a real listener, its ErrorLog into the
// returned buffer.
func auditServer(t *testing.T, h http.Handler) (addr string, errorLog *syncBuffer) {
	t.Helper()
	errorLog = new(syncBuffer)
	ts := httptest.NewUnstartedServer(h)
	ts.Config.ErrorLog = log.New(errorLog, "", 0)
	ts.Start()
	t.Cleanup(ts.Close)
	return ts.Listener.Addr().String(), errorLog
}

// rawConn is one client connection that writes raw bytes and reads answers.
type rawConn struct {
	net.Conn
	br *bufio.Reader
}

func dialAudit(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(auditAnswerWait))
	return &rawConn{Conn: c, br: bufio.NewReader(c)}
}

// exchange writes req and reads one answer, with its body.
func (c *rawConn) exchange(t *testing.T, req string) (*http.Response, string) {
	t.Helper()
	if _, err := io.WriteString(c, req); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("no answer to %q: %v", strings.SplitN(req, "\r\n", 2)[0], err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("reading the answer's body: %v", err)
	}
	return resp, string(b)
}

// wantAuditProblem checks an answer's status, problem type and title.
func wantAuditProblem(t *testing.T, resp *http.Response, body string, status int, typ, title string) {
	t.Helper()
	if resp.StatusCode != status || !problem.IsProblem(resp.Header.Get("Content-Type")) ||
		!strings.Contains(body, `"type":"`+typ+`"`) || !strings.Contains(body, `"title":"`+title+`"`) {
		t.Fatalf("answer %d %q, want a %d %s problem titled %q", resp.StatusCode, body, status, typ, title)
	}
}

// TestAuditHandlerPanicIsA500 holds a handler's panic to a 500 internal
// problem, without its value, on a connection that stays up, and the
// value and stack to the server's log. Before, net/http cut the
// connection: the caller got no answer at all (the gateway, a 502
// may-have-been-processed, retried on other nodes for idempotent calls).
func TestAuditHandlerPanicIsA500(t *testing.T) {
	s := rpc.NewServer()
	rpc.Register(s, "Test.Panic", func(context.Context, *echoReq) (*echoRsp, error) {
		panic("secret: dsn postgres://admin:hunter2@10.0.0.5/db")
	})
	rpc.Register(s, "Test.Echo", func(_ context.Context, req *echoReq) (*echoRsp, error) {
		return &echoRsp{Name: req.Name}, nil
	})
	addr, errorLog := auditServer(t, budget.Inbound(budget.ServerPolicy{})(s))
	c := dialAudit(t, addr)
	resp, body := c.exchange(t, "POST /rpc/Test.Panic HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}")
	wantAuditProblem(t, resp, body, http.StatusInternalServerError, problem.TypeInternal, "Internal error")
	if strings.Contains(body, "hunter2") || strings.Contains(body, "detail") {
		t.Fatalf("the panic's value reached the caller: %s", body)
	}
	if !strings.Contains(errorLog.String(), "hunter2") || !strings.Contains(errorLog.String(), "Test.Panic") {
		t.Fatalf("the server's log %q does not tell the panic", errorLog.String())
	}
	resp, body = c.exchange(t, "POST /rpc/Test.Echo HTTP/1.1\r\nHost: a\r\nContent-Length: 14\r\n\r\n{\"name\":\"ada\"}")
	if resp.StatusCode != http.StatusOK || body != `{"name":"ada","count":0}`+"\n" {
		t.Fatalf("after the panic, on the same connection: %d %q", resp.StatusCode, body)
	}
}

// TestAuditHandlerAbortIsPassedOn checks that http.ErrAbortHandler, a
// deliberate abort, still cuts the answer short.
func TestAuditHandlerAbortIsPassedOn(t *testing.T) {
	s := rpc.NewServer()
	rpc.Register(s, "Test.Abort", func(context.Context, *echoReq) (*echoRsp, error) {
		panic(http.ErrAbortHandler)
	})
	addr, _ := auditServer(t, s)
	c := dialAudit(t, addr)
	if _, err := io.WriteString(c, "POST /rpc/Test.Abort HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\n{}"); err != nil {
		t.Fatal(err)
	}
	if resp, err := http.ReadResponse(c.br, nil); err == nil {
		t.Fatalf("an aborted handler was answered %s", resp.Status)
	}
}

// TestAuditBodyErrorsAreTheCallers holds a body that cannot be read to a
// 4xx bad-request and a closed connection: it was a 500 internal, the
// answer to a failure of the server's own.
func TestAuditBodyErrorsAreTheCallers(t *testing.T) {
	s := testServer()
	addr, _ := auditServer(t, s)
	tests := []struct {
		name string
		req  string
	}{
		{"bad chunk size", "POST /rpc/Test.Echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"},
		{"chunk cut short", "POST /rpc/Test.Echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := dialAudit(t, addr).exchange(t, tt.req)
			wantAuditProblem(t, resp, body, http.StatusBadRequest, problem.TypeBadRequest, "Malformed request body")
			if !resp.Close {
				t.Fatalf("the connection stays open after a body it could not read: %v", resp.Header)
			}
		})
	}
}

// TestAuditBodyEndsWithTheBudget holds a body still arriving when the
// request's budget has run out to a 408, as the gateway answers it. Before,
// the server read on for as long as the caller trickled the body (or, here,
// forever), past the budget that the caller itself had set.
func TestAuditBodyEndsWithTheBudget(t *testing.T) {
	s := testServer()
	// The budget's clock started long ago: its 1 s deadline has passed when
	// the body is read, whatever the machine's load.
	h := budget.Inbound(budget.ServerPolicy{Now: func() time.Time { return time.Now().Add(-time.Hour) }})(s)
	addr, _ := auditServer(t, h)
	resp, body := dialAudit(t, addr).exchange(t,
		"POST /rpc/Test.Echo HTTP/1.1\r\nHost: a\r\nSluice-Budget: ms=1000\r\nContent-Length: 14\r\n\r\n{\"na")
	wantAuditProblem(t, resp, body, http.StatusRequestTimeout, problem.TypeBadRequest, "Request body too slow")
	if !resp.Close {
		t.Fatalf("the connection stays open after a body it gave up on: %v", resp.Header)
	}
}

// TestAuditBodyDeadlineLeavesTheConnection checks that the deadline a body
// is read by does not outlive it: a request whose budget ends while its
// handler runs, after its body, is answered, and the next request on the
// same connection too.
func TestAuditBodyDeadlineLeavesTheConnection(t *testing.T) {
	s := rpc.NewServer()
	rpc.Register(s, "Test.Wait", func(ctx context.Context, req *echoReq) (*echoRsp, error) {
		<-ctx.Done() // the budget's end
		return &echoRsp{Name: req.Name}, nil
	})
	addr, _ := auditServer(t, budget.Inbound(budget.ServerPolicy{})(s))
	c := dialAudit(t, addr)
	for i := range 2 {
		resp, body := c.exchange(t,
			"POST /rpc/Test.Wait HTTP/1.1\r\nHost: a\r\nSluice-Budget: ms=5\r\nContent-Length: 14\r\n\r\n{\"name\":\"ada\"}")
		if resp.StatusCode != http.StatusOK || body != `{"name":"ada","count":0}`+"\n" {
			t.Fatalf("request %d: %d %q", i, resp.StatusCode, body)
		}
	}
}

// addressedFailure is a classified 5xx whose text, as the upstream
// client's errors do, names a node of the network behind the service.
type addressedFailure struct{}

func (addressedFailure) Error() string {
	return "upstream: pricing at 10.0.0.7:9104 (sent, no answer): read tcp 10.0.0.5:41234->10.0.0.7:9104: connection reset"
}

func (addressedFailure) Problem() (int, string, string) {
	return http.StatusBadGateway, problem.TypeMaybeDone, "Upstream failed; the request may have been processed"
}

// clientMistake is a classified 4xx: its text is about what the caller sent.
type clientMistake struct{}

func (clientMistake) Error() string                  { return "the body must name an item" }
func (clientMistake) Problem() (int, string, string) { return 422, "urn:test:mistake", "Mistake" }

// TestAuditServerFailuresDoNotTellTheirCause holds a 5xx answer to a
// handler's error to its status, type and title, when the error is not an
// *rpc.Error whose author chose a detail for the caller. The text of the
// upstream client's errors, or of a handler's own words around a deadline,
// names nodes and addresses behind the service; it went out as the detail,
// and the gateway passes a backend's answer on as it is.
func TestAuditServerFailuresDoNotTellTheirCause(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		typ    string
		detail string
	}{
		{"upstream failure", addressedFailure{}, http.StatusBadGateway, problem.TypeMaybeDone, ""},
		{"wrapped upstream failure", fmt.Errorf("pricing the cart: %w", addressedFailure{}),
			http.StatusBadGateway, problem.TypeMaybeDone, ""},
		{"deadline in the handler's words", fmt.Errorf("querying 10.0.0.9:5432: %w", context.DeadlineExceeded),
			http.StatusGatewayTimeout, problem.TypeBudgetSpent, ""},
		{"budget spent", fmt.Errorf("calling ledger at 10.0.0.8:9000: %w", budget.ErrSpent),
			http.StatusGatewayTimeout, problem.TypeBudgetSpent, ""},
		{"an rpc.Error's chosen detail", &rpc.Error{Status: 503, Title: "Down", Detail: "try later"},
			http.StatusServiceUnavailable, "about:blank", "try later"},
		{"the caller's mistake", clientMistake{}, 422, "urn:test:mistake", "the body must name an item"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			rpc.WriteError(w, tt.err)
			checkProblem(t, w, tt.status, tt.typ, "", tt.detail)
			if tt.detail == "" && (strings.Contains(w.Body.String(), "detail") || strings.Contains(w.Body.String(), "10.0.0")) {
				t.Fatalf("the answer tells the cause: %s", w.Body.String())
			}
		})
	}
}

// TestAuditServerFailureThroughAHandler is the same through a handler, as a
// backend answers it.
func TestAuditServerFailureThroughAHandler(t *testing.T) {
	s := rpc.NewServer()
	rpc.Register(s, "Test.Call", func(context.Context, *echoReq) (*echoRsp, error) {
		return nil, fmt.Errorf("quoting: %w", addressedFailure{})
	})
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/rpc/Test.Call", strings.NewReader("{}")))
	checkProblem(t, w, http.StatusBadGateway, problem.TypeMaybeDone, "", "")
	if strings.Contains(w.Body.String(), "10.0.0") {
		t.Fatalf("the answer names the node: %s", w.Body.String())
	}
}
