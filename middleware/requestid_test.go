package middleware_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/middleware"
	"github.com/sluicehq/sluice/requestid"
	"github.com/sluicehq/sluice/router"
)

// TestRequestIDTrust checks which incoming X-Request-Id values are kept:
// only a valid one from a trusted proxy. Every other request gets a fresh
// id, on its header (for the backend), its answer and its context.
func TestRequestIDTrust(t *testing.T) {
	proxies, err := middleware.ParseTrustedProxies([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	trusted := func() *middleware.TrustedProxies { return proxies }
	for _, tc := range []struct {
		name, remote, id string
		keep             bool
	}{
		{"trusted proxy, valid id", "10.1.2.3:5000", "abc-123", true},
		{"trusted proxy, bad id", "10.1.2.3:5000", "has space", false},
		{"trusted proxy, too long", "10.1.2.3:5000", string(bytes.Repeat([]byte("a"), 129)), false},
		{"untrusted client", "192.0.2.1:5000", "abc-123", false},
		{"no id", "10.1.2.3:5000", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var inHeader, inCtx string
			h := middleware.Chain(middleware.AccessLog(nil, nil), middleware.RequestID(trusted))(
				http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					inHeader, inCtx = r.Header.Get(requestid.HeaderName), requestid.FromContext(r.Context())
					problem.Write(w, http.StatusBadGateway, problem.TypeUpstream, "Upstream failed", "")
				}))
			req := httptest.NewRequest("GET", "/", nil)
			req.RemoteAddr = tc.remote
			if tc.id != "" {
				req.Header.Set(requestid.HeaderName, tc.id)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			out := rec.Header().Get(requestid.HeaderName)
			if tc.keep && out != tc.id {
				t.Errorf("answer's id %q, want the client's %q", out, tc.id)
			}
			if !tc.keep && (out == tc.id || !requestid.Valid(out)) {
				t.Errorf("answer's id %q, want a fresh one", out)
			}
			if inHeader != out || inCtx != out {
				t.Errorf("id: answer %q, request header %q, context %q; want the same", out, inHeader, inCtx)
			}
			var body struct {
				ID string `json:"request_id"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body.ID != out {
				t.Errorf("problem body %s: request_id %q, want %q", rec.Body, body.ID, out)
			}
		})
	}
	// Nobody trusted: even a proxy's id is replaced.
	h := middleware.RequestID(func() *middleware.TrustedProxies { return nil })(http.NotFoundHandler())
	req := httptest.NewRequest("GET", "/", nil)
	req.RemoteAddr = "10.1.2.3:5000"
	req.Header.Set(requestid.HeaderName, "abc")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Header().Get(requestid.HeaderName) == "abc" {
		t.Error("an id was kept with no trusted proxies")
	}
}

// TestAccessLogNotes checks the access log's fields from the layers below:
// route, service, node, attempts, budget granted and left, request id and
// the trace id of traceparent.
func TestAccessLogNotes(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	at := time.Unix(1000, 0)
	now := func() time.Time { return at }
	h := middleware.Chain(middleware.AccessLog(logger, now), middleware.RequestID(nil))(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.(router.Annotator).NoteRoute("greet", "greeter")
			w.(router.Annotator).NoteBudget(2*time.Second, at.Add(2*time.Second))
			rec := middleware.RecorderFromContext(r.Context())
			rec.NoteAttempt("10.0.0.5:9101")
			rec.NoteAttempt("10.0.0.6:9101")
			at = at.Add(1500 * time.Millisecond)
			w.WriteHeader(http.StatusOK)
		}))
	req := httptest.NewRequest("GET", "/greet/Ada", nil)
	req.Header.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("%v: %s", err, buf.String())
	}
	want := map[string]any{
		"route": "greet", "service": "greeter", "node": "10.0.0.6:9101", "attempts": float64(2),
		"budget_granted": float64(2 * time.Second), "budget_left": float64(500 * time.Millisecond),
		"request_id": rec.Header().Get(requestid.HeaderName), "trace_id": "0af7651916cd43dd8448eb211c80319c",
	}
	for k, v := range want {
		if line[k] != v {
			t.Errorf("%s = %v, want %v", k, line[k], v)
		}
	}
}

func TestTraceID(t *testing.T) {
	for _, tc := range []struct{ v, want string }{
		{"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "0af7651916cd43dd8448eb211c80319c"},
		{"00-00000000000000000000000000000000-b7ad6b7169203331-01", ""}, // all zeros: invalid
		{"ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", ""}, // version ff: invalid
		{"00-0AF7651916CD43DD8448EB211C80319C-b7ad6b7169203331-01", ""}, // upper case
		{"00-0af7651916cd43dd8448eb211c80319c", ""},
		{"", ""},
	} {
		h := http.Header{}
		if tc.v != "" {
			h.Set("Traceparent", tc.v)
		}
		if got := middleware.TraceID(h); got != tc.want {
			t.Errorf("TraceID(%q) = %q, want %q", tc.v, got, tc.want)
		}
	}
}
