package middleware_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sluicehq/sluice/middleware"
)

func TestCheckCORSOrigin(t *testing.T) {
	for _, o := range []string{"*", "https://app.example.com", "http://localhost:3000", "https://*.example.com", "http://[::1]:8080"} {
		if err := middleware.CheckCORSOrigin(o); err != nil {
			t.Errorf("%q refused: %v", o, err)
		}
	}
	for _, o := range []string{"", "app.example.com", "https://app.example.com/", "https://a.example/x", "https://a.example?x",
		"https://*.*.example.com", "https://a*.example.com", "*.example.com", "null", "https://user@a.example"} {
		if err := middleware.CheckCORSOrigin(o); err == nil {
			t.Errorf("%q accepted as an origin", o)
		}
	}
}

func TestNewCORSRefusesAnyOriginWithCredentials(t *testing.T) {
	_, err := middleware.NewCORS(middleware.CORSSettings{Origins: []string{"*"}, Methods: []string{"GET"}, Credentials: true})
	if !errors.Is(err, middleware.ErrCORSAnyOriginWithCredentials) {
		t.Fatalf("error %v, want ErrCORSAnyOriginWithCredentials", err)
	}
	for _, s := range []middleware.CORSSettings{
		{Methods: []string{"GET"}},
		{Origins: []string{"https://a.example"}},
		{Origins: []string{"https://a.example"}, Methods: []string{"get"}},
		{Origins: []string{"https://a.example"}, Methods: []string{"GET"}, MaxAge: 1500 * time.Millisecond},
		{Origins: []string{"https://a.example", "*"}, Methods: []string{"GET"}},
	} {
		if _, err := middleware.NewCORS(s); err == nil {
			t.Errorf("%+v accepted", s)
		}
	}
}

// TestCORSMiddleware checks that a preflight never reaches the next handler,
// that an actual request does with the CORS fields, and that an OPTIONS
// request without Origin goes to next untouched.
func TestCORSMiddleware(t *testing.T) {
	c, err := middleware.NewCORS(middleware.CORSSettings{Origins: []string{"https://app.example.com"},
		Methods: []string{"GET", "OPTIONS"}, Credentials: true, MaxAge: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls++ }))
	do := func(method string, hdr map[string]string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "/x", nil)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	rec := do("OPTIONS", map[string]string{"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"})
	if calls != 0 || rec.Code != 204 || rec.Header().Get("Access-Control-Max-Age") != "60" {
		t.Errorf("preflight: next called %d times, %d %v", calls, rec.Code, rec.Header())
	}
	rec = do("OPTIONS", map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"})
	if calls != 0 || rec.Code != 204 || rec.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("refused preflight: next called %d times, %d %v", calls, rec.Code, rec.Header())
	}
	rec = do("GET", map[string]string{"Origin": "https://app.example.com"})
	if calls != 1 || rec.Header().Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		rec.Header().Get("Access-Control-Allow-Credentials") != "true" || rec.Header().Get("Vary") != "Origin" {
		t.Errorf("actual request: next called %d times, %v", calls, rec.Header())
	}
	rec = do("OPTIONS", map[string]string{"Access-Control-Request-Method": "GET"})
	if calls != 2 || len(rec.Header()) != 0 {
		t.Errorf("OPTIONS without Origin: next called %d times (want 2), header %v", calls, rec.Header())
	}
}

// A request with more than one Origin field is no browser's (RFC 6454,
// 7.3): it is answered 400, actual request or preflight, and never reaches
// rs/cors, which judged the first and echoed every one of them in an
// Access-Control-Allow-Origin field of its own.
func TestCORSRefusesManyOrigins(t *testing.T) {
	c, err := middleware.NewCORS(middleware.CORSSettings{Origins: []string{"https://app.example.com"},
		Methods: []string{"GET", "OPTIONS"}, Credentials: true})
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { calls++ })
	for name, h := range map[string]http.Handler{"actual": c.Middleware(next), "preflight": c.Preflight()} {
		t.Run(name, func(t *testing.T) {
			method := "GET"
			if name == "preflight" {
				method = "OPTIONS"
			}
			req := httptest.NewRequest(method, "/x", nil)
			req.Header["Origin"] = []string{"https://app.example.com", "https://evil.example"}
			req.Header.Set("Access-Control-Request-Method", "GET")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusBadRequest || calls != 0 || rec.Header()["Access-Control-Allow-Origin"] != nil {
				t.Errorf("%d, next called %d times, fields %v: want 400 and no CORS field", rec.Code, calls, rec.Header())
			}
		})
	}
}
