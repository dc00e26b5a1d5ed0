package middleware_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/middleware"
	"github.com/sluicehq/sluice/router"
)

var _ router.Arrival = (*middleware.Recorder)(nil)

func TestChainFirstIsOutermost(t *testing.T) {
	var trace []string
	mw := func(name string) func(http.Handler) http.Handler {
		return func(next http.Handler) http.Handler {
			return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				trace = append(trace, name+" in")
				next.ServeHTTP(w, r)
				trace = append(trace, name+" out")
			})
		}
	}
	h := middleware.Chain(mw("a"), mw("b"), mw("c"))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		trace = append(trace, "handler")
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	want := "a in, b in, c in, handler, c out, b out, a out"
	if got := strings.Join(trace, ", "); got != want {
		t.Errorf("order %q, want %q", got, want)
	}

	trace = nil
	middleware.Chain()(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		trace = append(trace, "handler")
	})).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if len(trace) != 1 {
		t.Errorf("an empty chain ran %v", trace)
	}
}

func TestRecorder(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name       string
		handler    func(w http.ResponseWriter)
		wantStatus int
		wantBytes  int64
		wantWire   int
	}{
		{"nothing written", func(http.ResponseWriter) {}, 0, 0, http.StatusOK},
		{"body without status", func(w http.ResponseWriter) { _, _ = io.WriteString(w, "hello") }, 200, 5, 200},
		{"status and body", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, "hello")
			_, _ = io.WriteString(w, ", world")
		}, 201, 12, 201},
		{"status only", func(w http.ResponseWriter) { w.WriteHeader(http.StatusNoContent) }, 204, 0, 204},
		{"informational first", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusEarlyHints)
			w.WriteHeader(http.StatusAccepted)
		}, 202, 0, 0}, // httptest.ResponseRecorder keeps the 103
		{"second status ignored", func(w http.ResponseWriter) {
			w.WriteHeader(http.StatusNotFound)
			w.WriteHeader(http.StatusOK)
		}, 404, 0, 404},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			under := httptest.NewRecorder()
			rec := middleware.NewRecorder(under, start)
			tt.handler(rec)
			if rec.Status() != tt.wantStatus || rec.Bytes() != tt.wantBytes {
				t.Errorf("Status, Bytes = %d, %d, want %d, %d", rec.Status(), rec.Bytes(), tt.wantStatus, tt.wantBytes)
			}
			if tt.wantWire != 0 && under.Code != tt.wantWire {
				t.Errorf("the wrapped writer got %d, want %d", under.Code, tt.wantWire)
			}
			if !rec.Arrival().Equal(start) {
				t.Errorf("Arrival = %v, want %v", rec.Arrival(), start)
			}
		})
	}

	// Flush reaches the wrapped writer, directly and through a
	// ResponseController.
	under := httptest.NewRecorder()
	rec := middleware.NewRecorder(under, start)
	rec.Flush()
	if !under.Flushed {
		t.Error("Flush did not reach the wrapped writer")
	}
	under = httptest.NewRecorder()
	if err := http.NewResponseController(middleware.NewRecorder(under, start)).Flush(); err != nil || !under.Flushed {
		t.Errorf("ResponseController.Flush = %v, flushed %v", err, under.Flushed)
	}
}

// logLines decodes the JSON lines a slog handler wrote.
func logLines(t *testing.T, buf *bytes.Buffer) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestAccessLog(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name       string
		cancel     bool
		handler    http.HandlerFunc
		wantStatus float64
		wantBytes  float64
	}{
		{"answered", false, func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusCreated)
			_, _ = io.WriteString(w, "done")
		}, 201, 4},
		{"nothing written", false, func(http.ResponseWriter, *http.Request) {}, 0, 0},
		{"client gone, nothing written", true, func(http.ResponseWriter, *http.Request) {}, 499, 0},
		{"client gone after a status", true, func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusBadGateway)
		}, 499, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&buf, nil))
			ticks := []time.Time{t0, t0.Add(1500 * time.Millisecond)}
			now := func() time.Time { tm := ticks[0]; ticks = ticks[1:]; return tm }

			var arrival time.Time
			h := middleware.AccessLog(logger, now)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if a, ok := w.(router.Arrival); ok {
					arrival = a.Arrival()
				}
				tt.handler(w, r)
			}))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				cancel()
			}
			req := httptest.NewRequest("POST", "/orders/7?x=1", nil).WithContext(ctx)
			h.ServeHTTP(httptest.NewRecorder(), req)

			if !arrival.Equal(t0) {
				t.Errorf("the handler saw arrival %v, want %v", arrival, t0)
			}
			lines := logLines(t, &buf)
			if len(lines) != 1 {
				t.Fatalf("%d log lines, want 1: %s", len(lines), buf.String())
			}
			l := lines[0]
			if l["msg"] != "request" || l["method"] != "POST" || l["path"] != "/orders/7" || l["remote"] != "192.0.2.1:1234" {
				t.Errorf("log line %v", l)
			}
			if l["status"] != tt.wantStatus || l["bytes"] != tt.wantBytes {
				t.Errorf("status, bytes = %v, %v, want %v, %v", l["status"], l["bytes"], tt.wantStatus, tt.wantBytes)
			}
			if l["duration"] != float64(1500*time.Millisecond) {
				t.Errorf("duration = %v, want %d", l["duration"], 1500*time.Millisecond)
			}
		})
	}
}

func TestAccessLogWithoutLogger(t *testing.T) {
	var arrival time.Time
	h := middleware.AccessLog(nil, nil)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if a, ok := w.(router.Arrival); ok {
			arrival = a.Arrival()
		}
	}))
	h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if arrival.IsZero() {
		t.Error("without a logger, AccessLog installed no Recorder")
	}

	// A logger above Info logs nothing.
	var buf bytes.Buffer
	quiet := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelWarn}))
	middleware.AccessLog(quiet, nil)(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	if buf.Len() != 0 {
		t.Errorf("a Warn logger got %s", buf.String())
	}
}

func TestRecover(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	h := middleware.Recover(logger)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic("boom")
	}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusInternalServerError || rec.Header().Get("Content-Type") != problem.ContentType {
		t.Fatalf("answer %d %q, want a 500 problem", rec.Code, rec.Header().Get("Content-Type"))
	}
	var p struct {
		Type   string `json:"type"`
		Status int    `json:"status"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil || p.Type != problem.TypeInternal || p.Status != 500 {
		t.Errorf("body %s (%v), want an internal problem", rec.Body, err)
	}
	if strings.Contains(rec.Body.String(), "boom") {
		t.Error("the panic value leaked to the client")
	}
	lines := logLines(t, &buf)
	if len(lines) != 1 || lines[0]["level"] != "ERROR" || lines[0]["panic"] != "boom" ||
		!strings.Contains(lines[0]["stack"].(string), "TestRecover") {
		t.Errorf("log %v, want one error line with the panic and the stack", lines)
	}

	// A nil logger still recovers.
	rec = httptest.NewRecorder()
	middleware.Recover(nil)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(42) })).
		ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("answer %d without a logger", rec.Code)
	}
}

func TestRecoverPassesOnAbort(t *testing.T) {
	var buf bytes.Buffer
	h := middleware.Recover(slog.New(slog.NewJSONHandler(&buf, nil)))(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		panic(http.ErrAbortHandler)
	}))
	rec := httptest.NewRecorder()
	func() {
		defer func() {
			if p := recover(); p != http.ErrAbortHandler {
				t.Errorf("recovered %v, want http.ErrAbortHandler passed on", p)
			}
		}()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	}()
	if rec.Body.Len() != 0 || buf.Len() != 0 {
		t.Errorf("an abort answered %q and logged %q", rec.Body, buf.String())
	}
}
