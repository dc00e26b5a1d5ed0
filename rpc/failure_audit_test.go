package rpc_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/rpc"
)

// fieldProblem is an error type whose methods read its fields, as most
// do: a nil *fieldProblem panics in each of them.
type fieldProblem struct {
	status int
	retry  string
}

func (e *fieldProblem) Error() string                  { return "field problem " + http.StatusText(e.status) }
func (e *fieldProblem) Problem() (int, string, string) { return e.status, "about:blank", "" }
func (e *fieldProblem) RetryAdvice() string            { return e.retry }
func (e *fieldProblem) RetryAfter() time.Duration {
	if e.retry != "" {
		panic("RetryAfter")
	}
	return 0
}

// TestAuditFailingErrorMethodsAreA500: a handler whose error panics when
// asked how to answer (a typed nil pointer of a type that reads its
// fields, or a method that panics after another set a field) is answered
// 500 internal, the panic logged, as a panicking handler is; without the
// guard the panic cut the connection, and the caller saw no answer.
func TestAuditFailingErrorMethodsAreA500(t *testing.T) {
	for _, tt := range []struct {
		name string
		err  error
	}{
		{"typed nil", (*fieldProblem)(nil)},
		{"panic after Sluice-Retry was set", &fieldProblem{status: 503, retry: "no"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := rpc.NewServer()
			rpc.Register(srv, "Fail.Now", func(ctx context.Context, req *struct{}) (*struct{}, error) {
				return nil, tt.err
			})
			addr, errorLog := auditServer(t, srv)
			resp, err := http.Post("http://"+addr+"/rpc/Fail.Now", rpc.ContentType, strings.NewReader("{}"))
			if err != nil {
				t.Fatalf("no answer: %v", err)
			}
			defer resp.Body.Close()
			var p struct{ Type, Detail string }
			_ = json.NewDecoder(resp.Body).Decode(&p)
			if resp.StatusCode != http.StatusInternalServerError || p.Type != problem.TypeInternal || p.Detail != "" {
				t.Errorf("answer %d %+v, want 500 %s with no detail", resp.StatusCode, p, problem.TypeInternal)
			}
			if v := resp.Header.Get("Sluice-Retry"); v != "" {
				t.Errorf("Sluice-Retry: %s on a 500 the error never chose", v)
			}
			if !strings.Contains(errorLog.String(), "rpc: panic serving Fail.Now") {
				t.Errorf("the panic was not logged: %q", errorLog.String())
			}
		})
	}
}

// TestAuditNilRPCErrorIsA500: a typed nil *rpc.Error, bare or wrapped, is
// an unclassified failure: 500 internal with no detail (its methods are
// nil-safe; this holds them so).
func TestAuditNilRPCErrorIsA500(t *testing.T) {
	for _, err := range []error{(*rpc.Error)(nil), &wrapped{(*rpc.Error)(nil)}} {
		w := httptest.NewRecorder()
		rpc.WriteError(w, err)
		if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "detail") {
			t.Errorf("%#v: answer %d %s", err, w.Code, w.Body)
		}
	}
}

type wrapped struct{ err error }

func (w *wrapped) Error() string { return "wrapped" }
func (w *wrapped) Unwrap() error { return w.err }
