package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/upstream/h1"
)

// TestProxyForwards: the floor sends the request's method, path, query and
// fields on, and hands back the answer's status, fields and body; a backend
// that cannot be reached is a 502.
func TestProxyForwards(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen", r.Method+" "+r.URL.RequestURI()+" "+r.Header.Get("X-Client"))
		w.WriteHeader(http.StatusTeapot)
		_, _ = io.WriteString(w, strings.Repeat("b", 100<<10))
	}))
	defer backend.Close()
	tr := &h1.Transport{}
	defer tr.CloseIdleConnections()
	front := httptest.NewServer(proxy(tr, strings.TrimPrefix(backend.URL, "http://")))
	defer front.Close()

	req, _ := http.NewRequest(http.MethodGet, front.URL+"/hello/a%2Fb?x=1", nil)
	req.Header.Set("X-Client", "c")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusTeapot || len(body) != 100<<10 ||
		resp.Header.Get("X-Seen") != "GET /hello/a%2Fb?x=1 c" {
		t.Fatalf("answer %d, %d bytes, X-Seen %q, %v", resp.StatusCode, len(body), resp.Header.Get("X-Seen"), err)
	}

	backend.Close()
	resp, err = http.Get(front.URL + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("with the backend gone: %d, want 502", resp.StatusCode)
	}
}
