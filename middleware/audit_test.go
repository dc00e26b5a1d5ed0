package middleware_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sluicehq/sluice/middleware"
)

// TestAuthenticateKeepsClaimHeadersNamedByConnection: a proxy drops the
// fields its client's Connection field names, and the router does so after
// Authenticate has set the claim headers. A client naming them there would
// have the gateway forward its request without the identity it verified;
// the options must go, the client's other options stay.
func TestAuthenticateKeepsClaimHeadersNamedByConnection(t *testing.T) {
	v := provider(t, []string{"HS256"}, middleware.JWTKey{Key: hmacSecret})
	tok := sign(t, jwt.SigningMethodHS256, hmacSecret, "", claims(nil))
	for _, conn := range [][]string{
		{"X-Sluice-Subject"},
		{"keep-alive, x-sluice-subject ,X-SLUICE-EMAIL, X-Other"},
		{"keep-alive", "X-Sluice-Email", "X-Sluice-Subject, X-Other"},
	} {
		t.Run(strings.Join(conn, "|"), func(t *testing.T) {
			fields := bearer(tok)
			fields["Connection"] = conn
			w, s, _ := serveAuth(v, fields)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			for _, c := range s.header["Connection"] {
				for f := range strings.SplitSeq(c, ",") {
					switch f = strings.TrimSpace(f); {
					case strings.EqualFold(f, "X-Sluice-Subject"), strings.EqualFold(f, "X-Sluice-Email"):
						t.Errorf("Connection %q still names the claim header %s, which the router would drop", s.header["Connection"], f)
					}
				}
			}
			if got := s.header.Get("X-Sluice-Subject"); got != "user-7" {
				t.Errorf("X-Sluice-Subject = %q, want the token's subject", got)
			}
			joined := strings.Join(conn, ",")
			for _, opt := range []string{"keep-alive", "X-Other"} {
				if strings.Contains(joined, opt) && !strings.Contains(strings.Join(s.header["Connection"], ","), opt) {
					t.Errorf("Connection %q lost the client's own option %s", s.header["Connection"], opt)
				}
			}
		})
	}
}

// TestIdentityHeadersRemoveMethodOverrides: a method override makes a
// backend (Express's method-override, Symfony, Laravel, Spring) act on
// another method than the one the gateway routed: GET /items/7 with
// X-Http-Method-Override: DELETE passes a GET route, and its policies, and
// deletes. They go as X-Original-Url goes, in every spelling.
func TestIdentityHeadersRemoveMethodOverrides(t *testing.T) {
	sent := http.Header{
		"X-Http-Method-Override": {"DELETE"}, "X_http_method_override": {"DELETE"},
		"X-Http-Method": {"PUT"}, "X_HTTP_METHOD": {"PUT"},
		"X-Method-Override": {"PATCH"}, "x-method-override": {"PATCH"},
		"X-Other": {"kept"},
	}
	var got http.Header
	h := middleware.IdentityHeaders(nil, nil)(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
	}))
	r := httptest.NewRequest("GET", "/items/7", nil)
	r.Header = sent.Clone()
	h.ServeHTTP(httptest.NewRecorder(), r)
	if want := (http.Header{"X-Other": {"kept"}}); !reflect.DeepEqual(got, want) {
		t.Errorf("header after IdentityHeaders = %v, want %v", got, want)
	}
}

// TestIdentityHeadersStripTrailers: a client that declares trailers gets
// them forwarded, after its body; one named as a claim header or a
// forwarding field must not reach the backend there either, where a server
// merging trailers into the header would believe it.
func TestIdentityHeadersStripTrailers(t *testing.T) {
	got := make(chan http.Header, 1)
	h := middleware.IdentityHeaders([]string{"X-Sluice-Subject"}, nil)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.Copy(io.Discard, r.Body); err != nil {
			t.Errorf("reading the body: %v", err)
		}
		got <- r.Trailer.Clone()
	}))
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, err := http.NewRequest("POST", srv.URL+"/x", strings.NewReader("abc"))
	if err != nil {
		t.Fatal(err)
	}
	req.ContentLength = -1 // chunked, so that trailers follow
	req.Trailer = http.Header{"X-Sluice-Subject": {"admin"}, "X-Forwarded-For": {"6.6.6.6"},
		"X-Real-Ip": {"6.6.6.6"}, "Sluice-Budget": {"ms=99999"}, "X-Checksum": {"kept"}}
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	trailer := <-got
	for _, f := range []string{"X-Sluice-Subject", "X-Forwarded-For", "X-Real-Ip", "Sluice-Budget"} {
		if v, ok := trailer[f]; ok {
			t.Errorf("the trailer %s %q reached the handler", f, v)
		}
	}
	if trailer.Get("X-Checksum") != "kept" {
		t.Errorf("an ordinary trailer was removed: %v", trailer)
	}
}
