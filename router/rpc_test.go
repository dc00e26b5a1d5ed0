package router_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/router"
)

// rpcRoutes are the RPC routes the tests below serve, on service "users".
var rpcRoutes = []router.Route{
	{Name: "update", Method: "POST", Path: "/users/{id}", Service: "users", Endpoint: "Users.Update", Budget: policy},
	{Name: "greet", Method: "GET", Path: "/greet/{name}", Service: "users", Endpoint: "Greeter.Hello", Budget: policy},
	{Name: "lookup", Method: "GET", Path: "/lookup", Service: "users", Endpoint: "Users.Lookup", Budget: policy},
	{Name: "acct", Method: "POST", Path: "/acct/{userId}", Service: "users", Endpoint: "Users.Get", Budget: policy},
}

func TestRPCMergesBodyQueryAndPath(t *testing.T) {
	be := newBackend(t, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = io.WriteString(w, `{"done":true}`)
	})
	rt := (&setup{}).node("users", be.addr()).build(t, rpcRoutes...)

	tests := []struct {
		name       string
		method     string
		target     string
		body       string
		wantPath   string
		wantFields map[string]any
	}{
		{
			name: "path over query over body", method: "POST",
			target:   "/users/42?name=query&tags=a&tags=b",
			body:     `{"id":"body","name":"body","keep":true,"n":1.5}`,
			wantPath: "/rpc/Users.Update",
			wantFields: map[string]any{
				"id": "42", "name": "query", "keep": true, "n": 1.5, "tags": []any{"a", "b"},
			},
		},
		// A JSON decoder matches names ignoring case, "ſ" folding to "s",
		// and keeps the last match: members the client spelled otherwise
		// must not reach the backend beside the path's (or the query's).
		{
			name: "body members spelled otherwise do not override the path", method: "POST",
			target: "/acct/me", body: `{"userid":"victim","uſerId":"victim","USERID":"victim","keep":1}`,
			wantPath: "/rpc/Users.Get", wantFields: map[string]any{"userId": "me", "keep": 1.0},
		},
		{
			name: "query parameters spelled otherwise do not override the path", method: "POST",
			target: "/acct/me?userid=victim&UserId=victim", wantPath: "/rpc/Users.Get",
			wantFields: map[string]any{"userId": "me"},
		},
		{
			name: "body members spelled otherwise do not override the query", method: "POST",
			target: "/users/42?Name=query", body: `{"name":"body","NAME":"body"}`, wantPath: "/rpc/Users.Update",
			wantFields: map[string]any{"id": "42", "Name": "query"},
		},
		{
			name: "body alone", method: "POST", target: "/users/7", body: `{"nested":{"a":[1,2]}}`,
			wantPath:   "/rpc/Users.Update",
			wantFields: map[string]any{"id": "7", "nested": map[string]any{"a": []any{1.0, 2.0}}},
		},
		{
			name: "whitespace body counts as empty", method: "POST", target: "/users/7", body: " \n ",
			wantPath: "/rpc/Users.Update", wantFields: map[string]any{"id": "7"},
		},
		{
			name: "GET with a path parameter", method: "GET", target: "/greet/Ada",
			wantPath: "/rpc/Greeter.Hello", wantFields: map[string]any{"name": "Ada"},
		},
		{
			name: "GET with nothing", method: "GET", target: "/lookup",
			wantPath: "/rpc/Users.Lookup", wantFields: map[string]any{},
		},
		{
			name: "escaped space in a path parameter", method: "GET", target: "/greet/Ada%20L",
			wantPath: "/rpc/Greeter.Hello", wantFields: map[string]any{"name": "Ada L"},
		},
		{
			name: "escaped slash in a path parameter", method: "GET", target: "/greet/a%2Fb",
			wantPath: "/rpc/Greeter.Hello", wantFields: map[string]any{"name": "a/b"},
		},
		{
			name: "escaped percent in a path parameter", method: "GET", target: "/greet/50%25",
			wantPath: "/rpc/Greeter.Hello", wantFields: map[string]any{"name": "50%"},
		},
		{
			name: "escaped percent sequence in a path parameter", method: "GET", target: "/greet/100%2525",
			wantPath: "/rpc/Greeter.Hello", wantFields: map[string]any{"name": "100%25"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			if tt.body != "" {
				body = strings.NewReader(tt.body)
			}
			req := httptest.NewRequest(tt.method, tt.target, body)
			req.Header.Set("Content-Type", "text/plain") // the gateway sets its own
			rec := serve(rt, req)
			if rec.Code != http.StatusCreated || rec.Body.String() != `{"done":true}` {
				t.Fatalf("answer %d %q, want the backend's 201", rec.Code, rec.Body)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("answer Content-Type = %q, want the backend's", ct)
			}
			got := be.last(t)
			if got.Method != http.MethodPost || got.Path != tt.wantPath || got.RawQuery != "" {
				t.Errorf("backend got %s %s?%s, want POST %s without a query", got.Method, got.Path, got.RawQuery, tt.wantPath)
			}
			if ct := got.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("backend Content-Type = %q, want application/json", ct)
			}
			if got.Host != "users" {
				t.Errorf("backend Host = %q, want the service name", got.Host)
			}
			var fields map[string]any
			if err := json.Unmarshal(got.Body, &fields); err != nil {
				t.Fatalf("backend body %q: %v", got.Body, err)
			}
			if !reflect.DeepEqual(fields, tt.wantFields) {
				t.Errorf("backend body = %v, want %v", fields, tt.wantFields)
			}
		})
	}
}

func TestRPCRejectsBadBodies(t *testing.T) {
	be := newBackend(t, nil)
	s := (&setup{opts: router.Options{MaxBodyBytes: 64}}).node("users", be.addr())
	rt := s.build(t, rpcRoutes...)
	tests := []struct {
		name   string
		body   string
		status int
	}{
		{"array", `[1,2]`, http.StatusBadRequest},
		{"null", `null`, http.StatusBadRequest},
		{"string", `"hello"`, http.StatusBadRequest},
		{"number", `12`, http.StatusBadRequest},
		{"truncated object", `{"a":`, http.StatusBadRequest},
		{"two values", `{} {}`, http.StatusBadRequest},
		{"invalid UTF-8 in a value", "{\"a\":\"ad\xc0min\"}", http.StatusBadRequest},
		{"invalid UTF-8 in a name", "{\"user\xffid\":1}", http.StatusBadRequest},
		{"one byte over the limit", `{"a":"` + strings.Repeat("x", 64-7) + `"}`, http.StatusRequestEntityTooLarge},
		{"far over the limit", strings.Repeat(" ", 1<<20), http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := serve(rt, httptest.NewRequest("POST", "/users/1", strings.NewReader(tt.body)))
			wantProblem(t, rec, tt.status, problem.TypeBadRequest)
		})
	}
	for _, query := range []string{"?name=%FF", "?%C0=1", "?a=1&a=%E2%82"} {
		rec := serve(rt, httptest.NewRequest("POST", "/users/1"+query, strings.NewReader("{}")))
		wantProblem(t, rec, http.StatusBadRequest, problem.TypeBadRequest)
	}
	if n := be.hits.Load(); n != 0 {
		t.Errorf("the backend was called %d times for bad bodies", n)
	}

	// A body of exactly the limit goes through.
	exact := `{"a":"` + strings.Repeat("x", 64-8) + `"}`
	rec := serve(rt, httptest.NewRequest("POST", "/users/1", strings.NewReader(exact)))
	if rec.Code != http.StatusOK {
		t.Fatalf("a %d-byte body answered %d %s, want 200", len(exact), rec.Code, rec.Body)
	}
	if got := be.last(t); !strings.Contains(string(got.Body), strings.Repeat("x", 64-8)) {
		t.Errorf("backend body %q lost the client's member", got.Body)
	}
}

// The body an RPC route forwards holds the client's values as the client
// wrote them, with the parameters' in the same plain form: encoding/json's
// escaping for HTML ('<' as \u003c, U+2028 as \u2028) made the bytes the
// backend got other than the client's, and made a 1 MiB body of '<' a
// 6 MiB one past the route's bound and the held bodies' count.
func TestRPCBodyIsNotEscapedForHTML(t *testing.T) {
	be := newBackend(t, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "{}") })
	rt := (&setup{}).node("users", be.addr()).build(t, rpcRoutes...)
	value := strings.Repeat("<&>\u2028\u2029", 1000)
	body := `{"a":"` + value + `","b":{"c":["` + value + `"]}}`
	req := httptest.NewRequest("POST", "/users/%3C%26%3E?q=%3C%26%3E", strings.NewReader(body))
	if rec := serve(rt, req); rec.Code != http.StatusOK {
		t.Fatalf("answer %d %q", rec.Code, rec.Body)
	}
	got := be.last(t).Body
	want := `{"a":"` + value + `","b":{"c":["` + value + `"]},"id":"<&>","q":"<&>"}`
	if string(got) != want {
		t.Errorf("backend body of %d bytes (the client's was %d):\n%.200s\nwant\n%.200s", len(got), len(body), got, want)
	}
}
