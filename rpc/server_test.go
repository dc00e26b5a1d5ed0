package rpc_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/rpc"
)

type echoReq struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

type echoRsp struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// testServer serves one endpoint per way a handler can end.
func testServer() *rpc.Server {
	s := rpc.NewServer()
	s.MaxBodyBytes = 64
	rpc.Register(s, "Test.Echo", func(_ context.Context, req *echoReq) (*echoRsp, error) {
		return &echoRsp{Name: req.Name, Count: req.Count}, nil
	})
	fail := func(name string, err error) {
		rpc.Register(s, "Test."+name, func(context.Context, *echoReq) (*echoRsp, error) { return nil, err })
	}
	fail("Conflict", &rpc.Error{Status: 409, Type: "urn:test:conflict", Title: "Already taken", Detail: "ada exists"})
	fail("Wrapped", fmt.Errorf("checking: %w", rpc.Errorf(403, "not yours")))
	fail("NoStatus", &rpc.Error{Title: "Forgot the status"})
	fail("Deadline", fmt.Errorf("querying: %w", context.DeadlineExceeded))
	fail("Plain", errors.New("dial postgres://admin:hunter2@db: refused"))
	rpc.Register(s, "Test.Unencodable", func(context.Context, *echoReq) (*map[string]any, error) {
		return &map[string]any{"f": func() {}}, nil
	})
	return s
}

func TestServer(t *testing.T) {
	const json_ = "application/json"
	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        string
		status      int
		typ         string // problem type; empty for a success
		title       string
		detail      string // exact problem detail, when not empty
		wantBody    string // exact success body, when not empty
	}{
		{name: "success", path: "/rpc/Test.Echo", contentType: json_, body: `{"name":"ada","count":3}`,
			status: 200, wantBody: `{"name":"ada","count":3}` + "\n"},
		{name: "content type with charset", path: "/rpc/Test.Echo", contentType: "application/json; charset=utf-8",
			body: `{"name":"ada"}`, status: 200, wantBody: `{"name":"ada","count":0}` + "\n"},
		{name: "no content type", path: "/rpc/Test.Echo", body: `{"name":"ada"}`, status: 200},
		{name: "empty body is a zero request", path: "/rpc/Test.Echo", contentType: json_, body: "",
			status: 200, wantBody: `{"name":"","count":0}` + "\n"},
		{name: "blank body is a zero request", path: "/rpc/Test.Echo", contentType: json_, body: " \n\t",
			status: 200, wantBody: `{"name":"","count":0}` + "\n"},
		{name: "trailing whitespace", path: "/rpc/Test.Echo", contentType: json_, body: "{}\n\n", status: 200},
		{name: "wrong method", method: http.MethodGet, path: "/rpc/Test.Echo", status: 405,
			typ: problem.TypeMethod, title: "Method not allowed"},
		{name: "unknown endpoint", path: "/rpc/Test.Nope", contentType: json_, body: "{}", status: 404,
			typ: problem.TypeNotFound, title: "No such endpoint", detail: "no endpoint is served at /rpc/Test.Nope"},
		{name: "outside the prefix", path: "/Test.Echo", contentType: json_, body: "{}", status: 404,
			typ: problem.TypeNotFound},
		{name: "wrong content type", path: "/rpc/Test.Echo", contentType: "text/plain", body: "{}", status: 415,
			typ: problem.TypeBadRequest, title: "Unsupported media type"},
		{name: "malformed content type", path: "/rpc/Test.Echo", contentType: "application/json;;=", body: "{}",
			status: 415, typ: problem.TypeBadRequest},
		{name: "body too large", path: "/rpc/Test.Echo", contentType: json_,
			body: `{"name":"` + strings.Repeat("a", 100) + `"}`, status: 413,
			typ: problem.TypeBadRequest, title: "Request body too large", detail: "the limit is 64 bytes"},
		{name: "malformed json", path: "/rpc/Test.Echo", contentType: json_, body: `{"name":`, status: 400,
			typ: problem.TypeBadRequest, title: "Malformed request body"},
		{name: "wrong field type", path: "/rpc/Test.Echo", contentType: json_, body: `{"count":"3"}`, status: 400,
			typ: problem.TypeBadRequest, title: "Malformed request body"},
		{name: "second value", path: "/rpc/Test.Echo", contentType: json_, body: `{} {}`, status: 400,
			typ: problem.TypeBadRequest, title: "Malformed request body", detail: "data after the JSON value"},
		{name: "trailing garbage", path: "/rpc/Test.Echo", contentType: json_, body: `{}x`, status: 400,
			typ: problem.TypeBadRequest, title: "Malformed request body"},
		{name: "handler error", path: "/rpc/Test.Conflict", contentType: json_, body: "{}", status: 409,
			typ: "urn:test:conflict", title: "Already taken", detail: "ada exists"},
		{name: "wrapped handler error", path: "/rpc/Test.Wrapped", contentType: json_, body: "{}", status: 403,
			typ: "about:blank", title: "Forbidden", detail: "not yours"},
		{name: "handler error without status", path: "/rpc/Test.NoStatus", contentType: json_, body: "{}",
			status: 500, typ: "about:blank", title: "Forgot the status"},
		{name: "deadline", path: "/rpc/Test.Deadline", contentType: json_, body: "{}", status: 504,
			typ: problem.TypeBudgetSpent, title: "Budget spent"},
		{name: "plain error hides its text", path: "/rpc/Test.Plain", contentType: json_, body: "{}", status: 500,
			typ: problem.TypeInternal, title: "Internal error"},
		{name: "unencodable response", path: "/rpc/Test.Unencodable", contentType: json_, body: "{}", status: 500,
			typ: problem.TypeInternal, title: "Internal error"},
	}
	srv := testServer()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := tt.method
			if method == "" {
				method = http.MethodPost
			}
			r := httptest.NewRequest(method, tt.path, strings.NewReader(tt.body))
			if tt.contentType != "" {
				r.Header.Set("Content-Type", tt.contentType)
			}
			w := httptest.NewRecorder()
			srv.ServeHTTP(w, r)
			body := w.Body.String()
			if w.Code != tt.status {
				t.Fatalf("status %d, want %d; body %s", w.Code, tt.status, body)
			}
			if tt.typ == "" {
				if ct := w.Header().Get("Content-Type"); ct != rpc.ContentType {
					t.Fatalf("success Content-Type %q", ct)
				}
				if tt.wantBody != "" && body != tt.wantBody {
					t.Fatalf("body %q, want %q", body, tt.wantBody)
				}
				return
			}
			checkProblem(t, w, tt.status, tt.typ, tt.title, tt.detail)
			if tt.status == http.StatusMethodNotAllowed && w.Header().Get("Allow") != http.MethodPost {
				t.Fatalf("405 with Allow %q, want POST", w.Header().Get("Allow"))
			}
			if tt.status == http.StatusInternalServerError && strings.Contains(body, "hunter2") {
				t.Fatalf("a 500 leaked the error's text: %s", body)
			}
		})
	}
}

// checkProblem checks that w holds a valid problem body with these members;
// empty title or detail are not compared.
func checkProblem(t *testing.T, w *httptest.ResponseRecorder, status int, typ, title, detail string) {
	t.Helper()
	if ct := w.Header().Get("Content-Type"); !problem.IsProblem(ct) {
		t.Fatalf("Content-Type %q, want a problem", ct)
	}
	var p struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("problem body %q: %v", w.Body.String(), err)
	}
	if p.Status != status || p.Type != typ || (title != "" && p.Title != title) || (detail != "" && p.Detail != detail) {
		t.Fatalf("problem %+v, want status %d type %q title %q detail %q", p, status, typ, title, detail)
	}
}

func TestServerPassesRequestContext(t *testing.T) {
	type key struct{}
	s := rpc.NewServer()
	rpc.Register(s, "Test.Ctx", func(ctx context.Context, _ *struct{}) (*string, error) {
		v, _ := ctx.Value(key{}).(string)
		return &v, nil
	})
	r := httptest.NewRequest(http.MethodPost, "/rpc/Test.Ctx", nil)
	r = r.WithContext(context.WithValue(r.Context(), key{}, "from the caller"))
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if got := w.Body.String(); got != "\"from the caller\"\n" {
		t.Fatalf("body %q", got)
	}
}

func TestServerDefaultBodyLimit(t *testing.T) {
	s := rpc.NewServer()
	rpc.Register(s, "Test.Len", func(_ context.Context, req *string) (*int, error) {
		n := len(*req)
		return &n, nil
	})
	for _, tc := range []struct {
		size   int
		status int
	}{{rpc.DefaultMaxBodyBytes - 2, 200}, {rpc.DefaultMaxBodyBytes - 1, 413}} {
		body := `"` + strings.Repeat("a", tc.size) + `"` // size+2 bytes
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/rpc/Test.Len", strings.NewReader(body)))
		if w.Code != tc.status {
			t.Fatalf("a %d-byte body: status %d, want %d", len(body), w.Code, tc.status)
		}
	}
}

func TestRegisterPanics(t *testing.T) {
	handler := func(context.Context, *struct{}) (*struct{}, error) { return nil, nil }
	tests := []struct {
		name  string
		first string // registered before, when not empty
		name2 string
	}{
		{"malformed", "", "Greeter"},
		{"empty", "", ""},
		{"path-like", "", "/rpc/Greeter.Hello"},
		{"duplicate", "Greeter.Hello", "Greeter.Hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := rpc.NewServer()
			if tt.first != "" {
				rpc.Register(s, tt.first, handler)
			}
			defer func() {
				if recover() == nil {
					t.Fatalf("Register(%q) did not panic", tt.name2)
				}
			}()
			rpc.Register(s, tt.name2, handler)
		})
	}
}

func TestEndpoints(t *testing.T) {
	s := testServer()
	got := s.Endpoints()
	if len(got) != 7 {
		t.Fatalf("Endpoints() = %v, want 7 names", got)
	}
}

// TestServerOverHTTP runs the server behind a real listener, as backends do.
func TestServerOverHTTP(t *testing.T) {
	ts := httptest.NewServer(testServer())
	defer ts.Close()
	resp, err := http.Post(ts.URL+"/rpc/Test.Echo", rpc.ContentType, strings.NewReader(`{"name":"ada"}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || string(b) != `{"name":"ada","count":0}`+"\n" {
		t.Fatalf("%d %q", resp.StatusCode, b)
	}
}
