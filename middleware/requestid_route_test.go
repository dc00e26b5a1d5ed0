package middleware_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/middleware"
	"github.com/sluicehq/sluice/requestid"
	"github.com/sluicehq/sluice/router"
)

// TestRequestIDRoutesWithoutCopy checks that a chi.Mux below RequestID
// routes with the routing context RequestID's context holds: the handler
// gets the very request RequestID passed on, with its path parameters, and
// the next request starts from an empty routing context.
func TestRequestIDRoutesWithoutCopy(t *testing.T) {
	var passed, got *http.Request
	var params []string
	mux := chi.NewMux()
	mux.Get("/greet/{name}", func(w http.ResponseWriter, r *http.Request) {
		got = r
		rc := chi.RouteContext(r.Context())
		params = append([]string(nil), rc.URLParams.Keys...)
		fmt.Fprintf(w, "%s %s %s", chi.URLParam(r, "name"), r.PathValue("name"), r.Pattern)
	})
	mux.Get("/files/*", func(w http.ResponseWriter, r *http.Request) {
		got = r
		rc := chi.RouteContext(r.Context())
		params = append([]string(nil), rc.URLParams.Keys...)
		fmt.Fprintf(w, "%s %s %s", chi.URLParam(r, "*"), chi.URLParam(r, "name"), r.Pattern)
	})
	h := middleware.RequestID(nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		passed = r
		mux.ServeHTTP(w, r)
	}))
	for _, tc := range []struct{ path, want, params string }{
		{"/greet/ada", "ada ada /greet/{name}", "[name]"},
		{"/files/a/b", "a/b  /files/*", "[*]"},
		{"/greet/bob", "bob bob /greet/{name}", "[name]"},
	} {
		passed, got, params = nil, nil, nil
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", tc.path, nil))
		if rec.Body.String() != tc.want {
			t.Errorf("%s: answered %q, want %q", tc.path, rec.Body, tc.want)
		}
		if fmt.Sprint(params) != tc.params {
			t.Errorf("%s: route parameters %v, want %s (none left from an earlier request)", tc.path, params, tc.params)
		}
		if got != passed {
			t.Errorf("%s: chi made a copy of the request RequestID passed on", tc.path)
		}
	}
}

// TestRequestIDRouteParamsConcurrent sends many requests at once through
// RequestID and a router's RPC route with a path parameter: each must reach
// the backend with its own parameter, never another request's, though the
// routing contexts are pooled.
func TestRequestIDRouteParamsConcurrent(t *testing.T) {
	d := &echoDoer{}
	rt, err := router.New([]router.Route{{
		Name: "greet", Method: "GET", Path: "/greet/{name}", Service: "greeter", Endpoint: "Greeter.Hello",
		Budget: budget.Policy{Timeout: 5 * time.Second, Max: 10 * time.Second},
	}}, d, router.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h := middleware.Chain(middleware.AccessLog(nil, nil), middleware.RequestID(nil))(rt)
	const workers, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				name := fmt.Sprintf("n%d-%d", w, i)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest("GET", "/greet/"+name, nil))
				var fields struct {
					Name string `json:"name"`
					ID   string `json:"id"`
				}
				if err := json.Unmarshal(rec.Body.Bytes(), &fields); err != nil {
					errs <- fmt.Errorf("%s: %d %q: %v", name, rec.Code, rec.Body, err)
					continue
				}
				if fields.Name != name {
					errs <- fmt.Errorf("request for %s reached the backend as %q", name, fields.Name)
				}
				if id := rec.Header().Get(requestid.HeaderName); fields.ID != id {
					errs <- fmt.Errorf("%s: the backend saw request id %q, the answer names %q", name, fields.ID, id)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// echoDoer answers an RPC call with the fields of its body and the request
// id of its context.
type echoDoer struct{}

func (*echoDoer) Do(r *http.Request) (*http.Response, error) {
	var fields map[string]any
	b, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(b, &fields); err != nil {
		return nil, err
	}
	fields["id"] = requestid.FromContext(r.Context())
	out, _ := json.Marshal(fields)
	return &http.Response{StatusCode: http.StatusOK, ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{"Content-Type": {"application/json"}}, ContentLength: int64(len(out)),
		Body: io.NopCloser(bytes.NewReader(out)), Request: r}, nil
}

// TestRequestIDContextValueAllocs checks that reading the id, the Recorder
// and the routing context from RequestID's context allocates nothing: the
// layers below read them on every request.
func TestRequestIDContextValueAllocs(t *testing.T) {
	var allocs float64
	var id string
	h := middleware.Chain(middleware.AccessLog(nil, nil), middleware.RequestID(nil))(
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			allocs = testing.AllocsPerRun(100, func() {
				id = requestid.FromContext(ctx)
				_ = middleware.RecorderFromContext(ctx)
				_ = chi.RouteContext(ctx)
			})
		}))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if allocs != 0 {
		t.Errorf("reading the request's context: %v allocations, want 0", allocs)
	}
	if want := rec.Header().Get(requestid.HeaderName); id != want {
		t.Errorf("id from the context %q, want %q", id, want)
	}
}
