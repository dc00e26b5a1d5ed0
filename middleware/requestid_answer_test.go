package middleware_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/internal/servertest"
	"github.com/sluicehq/sluice/middleware"
	"github.com/sluicehq/sluice/requestid"
)

// TestRequestIDOnEveryAnswer: under AccessLog, RequestID leaves the
// answer's X-Request-Id to the Recorder, which sets it as the header is
// first asked for or sent. Served by package server, whose writer makes its
// header only on demand, every way a handler can answer carries the id the
// access log names: writing nothing, a body alone, a status alone, a
// flush, a 103 then the answer, a problem (whose body names the id too),
// and a header map adopted whole from a backend that sent an id of its own.
func TestRequestIDOnEveryAnswer(t *testing.T) {
	type adopter interface{ AdoptHeader(http.Header) bool }
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"nothing written", func(http.ResponseWriter, *http.Request) {}},
		{"body only", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "hi") }},
		{"status only", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }},
		{"flush first", func(w http.ResponseWriter, _ *http.Request) {
			w.(http.Flusher).Flush()
			io.WriteString(w, "hi")
		}},
		{"103 first", func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusEarlyHints)
			io.WriteString(w, "hi")
		}},
		{"problem", func(w http.ResponseWriter, _ *http.Request) {
			problem.Write(w, http.StatusBadGateway, problem.TypeUpstream, "Upstream failed", "")
		}},
		{"adopted header", func(w http.ResponseWriter, _ *http.Request) {
			h := http.Header{requestid.HeaderName: {"backend-chosen"}, "X-Backend": {"1"}}
			u := w
			for {
				if _, ok := u.(adopter); ok {
					break
				}
				u = u.(interface{ Unwrap() http.ResponseWriter }).Unwrap()
			}
			if !u.(adopter).AdoptHeader(h) {
				t.Error("the answer's header was made before the handler asked for it")
			}
			io.WriteString(w, "hi")
		}},
	} {
		for _, logged := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/logged=%v", tc.name, logged), func(t *testing.T) {
				testRequestIDOnAnswer(t, tc.name, tc.handler, logged)
			})
		}
	}
}

// testRequestIDOnAnswer is one case of TestRequestIDOnEveryAnswer, with the
// access log's line written or not (nothing then reads the answer's id
// before the server sends it).
func testRequestIDOnAnswer(t *testing.T, name string, handler http.Handler, logged bool) {
	var logs bytes.Buffer
	var logger *slog.Logger
	if logged {
		logger = slog.New(slog.NewJSONHandler(&logs, nil))
	}
	h := middleware.Chain(middleware.AccessLog(logger, nil), middleware.RequestID(nil))(handler)
	served := make(chan struct{}) // the access log's line, if any, is written
	resp := serveOnce(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(served)
		h.ServeHTTP(w, r)
	}))
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	<-served
	id := resp.Header.Get(requestid.HeaderName)
	if !requestid.Valid(id) || len(resp.Header[requestid.HeaderName]) != 1 {
		t.Fatalf("answer's X-Request-Id %q, want one the gateway made: %v", resp.Header[requestid.HeaderName], resp.Header)
	}
	if logged {
		var line struct {
			ID string `json:"request_id"`
		}
		if err := json.Unmarshal(logs.Bytes(), &line); err != nil || line.ID != id {
			t.Errorf("access log %s: request_id %q, want the answer's %q", logs.Bytes(), line.ID, id)
		}
	}
	if name == "problem" {
		var problemBody struct {
			ID string `json:"request_id"`
		}
		if err := json.Unmarshal(body, &problemBody); err != nil || problemBody.ID != id {
			t.Errorf("problem body %s: request_id %q, want %q", body, problemBody.ID, id)
		}
	}
	if name == "adopted header" && resp.Header.Get("X-Backend") != "1" {
		t.Errorf("the adopted header's field was not sent: %v", resp.Header)
	}
}

// serveOnce serves h with package server and returns its answer to one GET.
func serveOnce(t *testing.T, h http.Handler) *http.Response {
	t.Helper()
	addr := servertest.Start(t, h)
	client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	resp, err := client.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// TestRequestIDContext: below RequestID the request's context gives the
// id, the Recorder and a chi routing context. Under package server they are
// added to the server's request context, and the handler gets the very
// request RequestID was given (no copy); under another server (httptest's
// here) the handler gets a copy with a context that wraps them.
func TestRequestIDContext(t *testing.T) {
	for _, lean := range []bool{true, false} {
		t.Run(fmt.Sprintf("lean=%v", lean), func(t *testing.T) {
			var outer, inner *http.Request
			var id string
			var rec *middleware.Recorder
			var route *chi.Context
			h := middleware.Chain(middleware.AccessLog(nil, nil), func(next http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					outer = r
					next.ServeHTTP(w, r)
				})
			}, middleware.RequestID(nil))(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				inner = r
				id = requestid.FromContext(r.Context())
				rec = middleware.RecorderFromContext(r.Context())
				route = chi.RouteContext(r.Context())
			}))
			var answered string
			if lean {
				served := make(chan struct{})
				resp := serveOnce(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					defer close(served)
					h.ServeHTTP(w, r)
				}))
				resp.Body.Close()
				<-served
				answered = resp.Header.Get(requestid.HeaderName)
			} else {
				w := httptest.NewRecorder()
				h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
				answered = w.Header().Get(requestid.HeaderName)
			}
			if !requestid.Valid(id) || id != answered {
				t.Errorf("the context's id %q, the answer's %q", id, answered)
			}
			if rec == nil || route == nil {
				t.Errorf("the context's Recorder %v, routing context %v: want both", rec, route)
			}
			if copied := inner != outer; copied == lean {
				t.Errorf("the handler's request is a copy: %v, want %v", copied, !lean)
			}
		})
	}
}
