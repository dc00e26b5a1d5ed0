package rpc_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/rpc"
)

// teapot is a Problemer of the kind upstream's errors are.
type teapot struct{}

func (teapot) Error() string                  { return "teapot" }
func (teapot) Problem() (int, string, string) { return 418, "urn:test:teapot", "Teapot" }

func TestStatusOf(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
		typ    string
		title  string
	}{
		{"rpc error", &rpc.Error{Status: 409, Type: "urn:test:conflict", Title: "Conflict"}, 409, "urn:test:conflict", "Conflict"},
		{"rpc error without type", rpc.Errorf(404, "no user"), 404, "about:blank", "Not Found"},
		{"wrapped rpc error", fmt.Errorf("loading: %w", rpc.Errorf(403, "no")), 403, "about:blank", "Forbidden"},
		{"rpc error without status", &rpc.Error{Title: "Oops"}, 500, "about:blank", "Oops"},
		{"rpc error with a success status", &rpc.Error{Status: 200, Title: "Fine?"}, 500, "about:blank", "Fine?"},
		{"problemer", fmt.Errorf("calling: %w", teapot{}), 418, "urn:test:teapot", "Teapot"},
		{"budget spent", fmt.Errorf("x: %w", budget.ErrSpent), 504, problem.TypeBudgetSpent, "Budget spent"},
		{"below minimum", budget.ErrBelowMinimum, 504, problem.TypeBudgetTooLow, "Budget below the minimum"},
		{"deadline", context.DeadlineExceeded, 504, problem.TypeBudgetSpent, "Budget spent"},
		{"wrapped deadline", fmt.Errorf("db: %w", context.DeadlineExceeded), 504, problem.TypeBudgetSpent, "Budget spent"},
		{"cancelled", fmt.Errorf("db: %w", context.Canceled), rpc.StatusClientClosed, problem.TypeBudgetSpent, "Client closed request"},
		{"plain", errors.New("boom"), 500, problem.TypeInternal, "Internal error"},
		{"joined, problemer wins", errors.Join(context.Canceled, teapot{}), 418, "urn:test:teapot", "Teapot"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, typ, title := rpc.StatusOf(tt.err)
			if status != tt.status || typ != tt.typ || title != tt.title {
				t.Fatalf("StatusOf = %d %q %q, want %d %q %q", status, typ, title, tt.status, tt.typ, tt.title)
			}
		})
	}
}

func TestErrorf(t *testing.T) {
	e := rpc.Errorf(http.StatusBadRequest, "name %q is %d long", "ada", 3)
	if e.Status != 400 || e.Title != "Bad Request" || e.Detail != `name "ada" is 3 long` || e.Type != "" {
		t.Fatalf("Errorf = %+v", e)
	}
	if got := e.Error(); got != `rpc: 400 Bad Request: name "ada" is 3 long` {
		t.Fatalf("Error() = %q", got)
	}
}

type overloaded struct{ after time.Duration }

func (overloaded) Error() string                  { return "overloaded" }
func (overloaded) Problem() (int, string, string) { return 503, "urn:test:overloaded", "Overloaded" }
func (o overloaded) RetryAfter() time.Duration    { return o.after }

// TestWriteErrorRetryAfter: an error that says when to come back sets
// Retry-After in whole seconds, rounded up; none when it says nothing.
func TestWriteErrorRetryAfter(t *testing.T) {
	for _, tt := range []struct {
		after time.Duration
		want  string
	}{{time.Second, "1"}, {1500 * time.Millisecond, "2"}, {time.Millisecond, "1"}, {0, ""}} {
		rec := httptest.NewRecorder()
		rpc.WriteError(rec, fmt.Errorf("wrapped: %w", overloaded{tt.after}))
		if got := rec.Header().Get("Retry-After"); got != tt.want || rec.Code != 503 {
			t.Errorf("after %s: %d, Retry-After %q; want 503, %q", tt.after, rec.Code, got, tt.want)
		}
	}
}

// A handler that returns a typed nil *Error returns a non-nil error: it is
// answered as an internal error, as any unclassified failure, not a panic.
func TestNilErrorIsAnInternalError(t *testing.T) {
	var nilErr *rpc.Error
	rec := httptest.NewRecorder()
	rpc.WriteError(rec, fmt.Errorf("wrapped: %w", nilErr))
	if rec.Code != http.StatusInternalServerError || rec.Header().Get("Sluice-Retry") != "" {
		t.Fatalf("a nil *Error was answered %d %v", rec.Code, rec.Header())
	}
	if status, typ, _ := rpc.StatusOf(nilErr); status != http.StatusInternalServerError || typ != problem.TypeInternal {
		t.Fatalf("StatusOf(nil *Error) = %d %s", status, typ)
	}
	if msg := nilErr.Error(); msg == "" {
		t.Fatal("a nil *Error has no text")
	}

	s := rpc.NewServer()
	rpc.Register(s, "Test.Nil", func(context.Context, *struct{}) (*struct{}, error) {
		var e *rpc.Error
		return nil, e
	})
	rec = httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/rpc/Test.Nil", strings.NewReader("{}")))
	if rec.Code != http.StatusInternalServerError || rec.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("a handler's nil *Error was answered %d %q: %s", rec.Code, rec.Header().Get("Content-Type"), rec.Body)
	}
}
