package router_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/router"
)

// hintRecorder records the 1xx codes written to it.
type hintRecorder struct {
	*httptest.ResponseRecorder
	informational []int
	sent          []http.Header // the header each 1xx went with
}

func (w *hintRecorder) WriteHeader(code int) {
	if code >= 100 && code < 200 {
		w.informational = append(w.informational, code)
		w.sent = append(w.sent, w.Header().Clone())
		return
	}
	w.ResponseRecorder.WriteHeader(code)
}

// Only a navigation asks the Doer for 1xx answers; of those, only 103 is
// written, and none once the final answer is on its way (a losing hedge's
// late 103).
func TestEarlyHintsOnlyForNavigationsAndBeforeTheAnswer(t *testing.T) {
	cases := []struct {
		name   string
		header http.Header
		want   []int
	}{
		{"navigation", http.Header{"Sec-Fetch-Mode": {"navigate"}}, []int{103}},
		{"html accept", http.Header{"Accept": {"text/html"}}, []int{103}},
		{"fetch of html", http.Header{"Sec-Fetch-Mode": {"cors"}, "Accept": {"text/html"}}, nil},
		{"API call", http.Header{"Accept": {"application/json"}}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			traced := false
			doer := doerFunc(func(r *http.Request) (*http.Response, error) {
				var body io.Reader = strings.NewReader("ok")
				trace := httptrace.ContextClientTrace(r.Context())
				if trace != nil && trace.Got1xxResponse != nil {
					traced = true
					h := textproto.MIMEHeader{"Link": {"</a.css>; rel=preload"}}
					_ = trace.Got1xxResponse(http.StatusContinue, nil)
					_ = trace.Got1xxResponse(http.StatusEarlyHints, h)
					// A late 103, as a losing hedge's, while the answer is copied.
					body = io.MultiReader(readFunc(func([]byte) (int, error) {
						_ = trace.Got1xxResponse(http.StatusEarlyHints, h)
						return 0, io.EOF
					}), body)
				}
				return &http.Response{StatusCode: 200, Header: http.Header{}, ContentLength: 2,
					Body: io.NopCloser(body), Request: r}, nil
			})
			rt, err := router.New([]router.Route{{Method: "GET", Path: "/p", Service: "svc",
				Budget: budget.Policy{Timeout: time.Minute}}}, doer, router.Options{})
			if err != nil {
				t.Fatal(err)
			}
			req := httptest.NewRequest("GET", "/p", nil)
			req.Header = tc.header
			w := &hintRecorder{ResponseRecorder: httptest.NewRecorder()}
			rt.ServeHTTP(w, req)
			if w.Code != 200 || len(w.informational) != len(tc.want) || len(tc.want) > 0 && w.informational[0] != tc.want[0] {
				t.Errorf("final %d, 1xx %v; want 200 and %v", w.Code, w.informational, tc.want)
			}
			if traced != (tc.want != nil) {
				t.Errorf("the Doer was asked for 1xx answers: %v", traced)
			}
			if w.Header().Get("Link") != "" {
				t.Errorf("the hint's Link stayed in the final header")
			}
		})
	}
}

// A backend's 103 passes on its end-to-end fields only: not the hop-by-hop
// ones, nor those its Connection field names, nor a Content-Length, which
// no 1xx may carry (RFC 9110, section 8.6).
func TestEarlyHintsLoseHopFields(t *testing.T) {
	doer := doerFunc(func(r *http.Request) (*http.Response, error) {
		if trace := httptrace.ContextClientTrace(r.Context()); trace != nil && trace.Got1xxResponse != nil {
			_ = trace.Got1xxResponse(http.StatusEarlyHints, textproto.MIMEHeader{
				"Link":              {"</a.css>; rel=preload"},
				"Connection":        {"X-Hop, close"},
				"X-Hop":             {"secret"},
				"Keep-Alive":        {"timeout=5"},
				"Transfer-Encoding": {"chunked"},
				"Upgrade":           {"h2c"},
				"Content-Length":    {"5"},
			})
		}
		return &http.Response{StatusCode: 200, Header: http.Header{}, ContentLength: 2,
			Body: io.NopCloser(strings.NewReader("ok")), Request: r}, nil
	})
	rt, err := router.New([]router.Route{{Method: "GET", Path: "/p", Service: "svc",
		Budget: budget.Policy{Timeout: time.Minute}}}, doer, router.Options{})
	if err != nil {
		t.Fatal(err)
	}
	req := httptest.NewRequest("GET", "/p", nil)
	req.Header.Set("Sec-Fetch-Mode", "navigate")
	w := &hintRecorder{ResponseRecorder: httptest.NewRecorder()}
	rt.ServeHTTP(w, req)
	if len(w.sent) != 1 {
		t.Fatalf("1xx %v, want one 103", w.informational)
	}
	want := http.Header{"Link": {"</a.css>; rel=preload"}}
	if got := w.sent[0]; !reflect.DeepEqual(got, want) {
		t.Fatalf("the 103 went with %v, want %v", got, want)
	}
}

// readFunc is an io.Reader of one function.
type readFunc func([]byte) (int, error)

func (f readFunc) Read(p []byte) (int, error) { return f(p) }
