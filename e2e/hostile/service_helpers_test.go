package hostile

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// serviceGateway starts a gateway on listener server server (its config
// name), with the defaults otherwise and one GET route, /name/*, to the
// service name on the nodes at the URLs nodes (httptest servers' URLs):
// the addresses of its route and admin listeners.
func serviceGateway(t *testing.T, server, name string, nodes ...string) []string {
	t.Helper()
	var b strings.Builder
	gatewayYAML(&b, server, time.Second)
	b.WriteString("registry:\n  kind: static\n  static:\n")
	for i, u := range nodes {
		fmt.Fprintf(&b, "    - {service: %s, id: %s-%d, address: %q}\n", name, name, i, strings.TrimPrefix(u, "http://"))
	}
	fmt.Fprintf(&b, "routes:\n  - {name: %s, method: GET, path: /%s/*, service: %s}\n", name, name, name)
	_, addrs := startWith(t, b.String())
	return addrs
}

// keepCalling has c GET url over and over until stop is closed, as a
// client keeping a request in flight does: an answer other than 200 makes
// it wait pause first (the client's own pace after a refusal); ok, when
// not nil, is told of each 200.
func keepCalling(stop <-chan struct{}, c *http.Client, url string, pause time.Duration, ok func()) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		resp, err := c.Get(url)
		if err != nil {
			continue
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			time.Sleep(pause) // the client's pace, not the test's
			continue
		}
		if ok != nil {
			ok()
		}
	}
}

// getFrom has c GET url and returns the answer's status and body, failing
// the test when no answer came.
func getFrom(t *testing.T, c *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(body)
}
