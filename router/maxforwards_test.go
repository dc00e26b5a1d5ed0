package router_test

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/router"
)

// An OPTIONS request whose Max-Forwards is 0 is answered by the gateway,
// the final recipient (RFC 9110, section 7.6.2): 200, the path's methods
// in Allow, no body, no backend reached. A greater count reaches the
// backend one less; a value that is no single count, and every other
// method's, reach it as they came.
func TestMaxForwardsOnOptionsIsCountedDownAndZeroIsAnswered(t *testing.T) {
	p := budget.Policy{Timeout: time.Second}
	for _, tc := range []struct {
		routes []router.Route
		allow  string
	}{
		{[]router.Route{
			{Name: "opts", Method: http.MethodOptions, Path: "/o/{id}", Service: "svc", Budget: p},
			{Name: "get", Method: http.MethodGet, Path: "/o/{id}", Service: "svc", Budget: p},
		}, "GET, HEAD, OPTIONS"},
		{[]router.Route{{Name: "any", Method: "*", Path: "/o/{id}", Service: "svc", Budget: p}},
			"GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"},
	} {
		method := tc.routes[0].Method
		d := &capturingDoer{}
		rt := newRouter(t, d, tc.routes...)
		send := func(m string, values ...string) (*httptest.ResponseRecorder, http.Header) {
			t.Helper()
			d.got = nil
			req := httptest.NewRequest(m, "/o/7", nil)
			for _, v := range values {
				req.Header.Add("Max-Forwards", v)
			}
			w := httptest.NewRecorder()
			rt.ServeHTTP(w, req)
			if d.got == nil {
				return w, nil
			}
			return w, d.got.Header
		}
		w, reached := send(http.MethodOptions, "0")
		if w.Code != http.StatusOK || reached != nil || w.Body.Len() != 0 || w.Header().Get("Allow") != tc.allow {
			t.Errorf("%s route, Max-Forwards 0: %d, Allow %q, body %q, backend reached %v; want the gateway's 200",
				method, w.Code, w.Header().Get("Allow"), w.Body, reached != nil)
		}
		for _, c := range []struct {
			method string
			sent   []string
			want   []string
		}{
			{http.MethodOptions, []string{"1"}, []string{"0"}},
			{http.MethodOptions, []string{"10"}, []string{"9"}},
			{http.MethodOptions, []string{"18446744073709551615"}, []string{"18446744073709551614"}},
			{http.MethodOptions, []string{"18446744073709551616"}, []string{"18446744073709551616"}},
			{http.MethodOptions, []string{"-1"}, []string{"-1"}},
			{http.MethodOptions, []string{"0", "0"}, []string{"0", "0"}},
			{http.MethodOptions, []string{"x"}, []string{"x"}},
			{http.MethodOptions, nil, nil},
			{http.MethodGet, []string{"0"}, []string{"0"}},
		} {
			w, reached := send(c.method, c.sent...)
			if reached == nil {
				t.Errorf("%s route, %s Max-Forwards %q: %d, the backend not reached", method, c.method, c.sent, w.Code)
				continue
			}
			if got := reached["Max-Forwards"]; !slices.Equal(got, c.want) {
				t.Errorf("%s route, %s Max-Forwards %q: the backend got %q, want %q", method, c.method, c.sent, got, c.want)
			}
		}
	}
}
