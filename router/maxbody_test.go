package router_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/router"
	"github.com/sluicehq/sluice/upstream"
)

// chunked hides a body's length, so that it is sent chunked.
type chunked struct{ io.Reader }

// TestAnHTTPRouteRefusesABodyOverItsLimit gives an HTTP route a bound on
// request bodies: a declared length over it is answered 413 before any
// node is picked; a chunked body over it is answered 413 whether it is
// held (under 64 KiB) or streamed (past them, the backend's request cut);
// bodies of the bound pass whole; and none of it is held against the
// node: no breaker opens, no node is ejected, the next request is served.
func TestAnHTTPRouteRefusesABodyOverItsLimit(t *testing.T) {
	be := newBackend(t, func(w http.ResponseWriter, r *http.Request) {})
	reg, err := registry.NewStatic(&registry.Node{Service: "up", Address: be.addr()})
	if err != nil {
		t.Fatal(err)
	}
	tr := upstream.NewTransport()
	t.Cleanup(tr.CloseIdleConnections)
	client := upstream.New(reg, upstream.WithTransport(tr))
	const small, large = 1000, 100 << 10 // one held whole, one streamed past MaxReplayBody
	b := budget.Policy{Timeout: 10 * time.Second}
	rt, err := router.New([]router.Route{
		{Method: "POST", Path: "/small", Service: "up", MaxBodyBytes: small, Budget: b},
		{Method: "POST", Path: "/large", Service: "up", MaxBodyBytes: large, Budget: b},
		{Method: "POST", Path: "/any", Service: "up", Budget: b},
	}, client, router.Options{})
	if err != nil {
		t.Fatal(err)
	}
	post := func(path string, n int, hide bool, fill string) *httptest.ResponseRecorder {
		var body io.Reader = strings.NewReader(strings.Repeat(fill, n))
		if hide {
			body = chunked{body}
		}
		r := httptest.NewRequest("POST", path, body)
		if hide {
			r.ContentLength = -1
		}
		return serve(rt, r)
	}

	for _, tc := range []struct {
		path string
		n    int
		hide bool
	}{
		{"/small", small + 1, false}, {"/small", 10 * large, false},
		{"/small", small + 1, true}, {"/large", large + 1, false},
	} {
		hits := be.hits.Load()
		wantProblem(t, post(tc.path, tc.n, tc.hide, "x"), http.StatusRequestEntityTooLarge, problem.TypeBadRequest)
		if be.hits.Load() != hits {
			t.Errorf("%s, %d bytes (chunked %v): the backend was called for a body it could never take", tc.path, tc.n, tc.hide)
		}
	}
	for range 20 { // streamed past the held start: the backend sees it begin
		wantProblem(t, post("/large", large+1, true, "x"), http.StatusRequestEntityTooLarge, problem.TypeBadRequest)
	}
	for _, tc := range []struct {
		path string
		n    int
	}{{"/small", small}, {"/large", large}, {"/any", 10 * large}} {
		for _, hide := range []bool{false, true} {
			rec := post(tc.path, tc.n, hide, "y")
			if rec.Code != http.StatusOK {
				t.Fatalf("%s, %d bytes (chunked %v): %d %s", tc.path, tc.n, hide, rec.Code, rec.Body)
			}
			// The refused bodies' requests may land too (of "x"): this
			// one's is the body of "y", whole.
			got := <-be.got
			for !strings.HasPrefix(string(got.Body), "y") {
				got = <-be.got
			}
			if len(got.Body) != tc.n || strings.Trim(string(got.Body), "y") != "" {
				t.Fatalf("%s, chunked %v: the backend got %d bytes, want %d of the client's", tc.path, hide, len(got.Body), tc.n)
			}
		}
	}
	for _, st := range client.Breakers().States() {
		if st.State != "closed" {
			t.Errorf("breaker %+v: the node was blamed for the clients' bodies", st)
		}
	}
	if ej := client.Ejector().Ejections(); len(ej) != 0 {
		t.Errorf("ejections %+v: the node was blamed for the clients' bodies", ej)
	}
}
