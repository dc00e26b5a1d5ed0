package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The requests a listener's server refuses itself, before any handler (a
// malformed head: 400, 431, 505), reach no middleware, on either server:
// they are counted in sluice_listener_refusals_total, by status, and
// neither in sluice_requests_total nor in the access log, where the
// routes' refusals (404) are. Before that counter, a scan of smuggling
// probes was seen nowhere (the observability doc once counted them under
// route="(none)", which they never were).
func TestListenerRefusalsAreCounted(t *testing.T) {
	tg := startServing(t, t.TempDir(), "  - {address: 127.0.0.1:0}\n  - {address: 127.0.0.1:0, h2c: true}\n", echoBackend(t), time.Hour)
	heads := map[string]int{
		"GET /v1 HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n":                          http.StatusBadRequest,
		"GET /v1 HTTP/1.1\r\nHost: x\r\nX: " + strings.Repeat("a", 70<<10) + "\r\n\r\n": http.StatusRequestHeaderFieldsTooLarge,
		"GET /v1 HTTP/9.1\r\nHost: x\r\n\r\n":                                           http.StatusHTTPVersionNotSupported,
		"GET /nope HTTP/1.1\r\nHost: x\r\n\r\n":                                         http.StatusNotFound,
	}
	for _, addr := range tg.addrs[:2] { // the sluice listener, the net/http one
		for head, want := range heads {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			c.SetDeadline(time.Now().Add(waitLimit))
			io.WriteString(c, head)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			c.Close()
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != want {
				t.Fatalf("%.30q: status %d, want %d", head, resp.StatusCode, want)
			}
		}
	}
	if got := strings.Count(tg.logs.String(), `"msg":"request"`); got != 2 {
		t.Errorf("%d access log lines, want 2 (the 404s)", got)
	}
	want := `
# HELP sluice_requests_total Requests answered by the gateway, by route, method and status code.
# TYPE sluice_requests_total counter
sluice_requests_total{code="404",method="GET",route="(none)"} 2
# HELP sluice_listener_refusals_total Requests a listener's server refused itself, before any route or middleware (a malformed or oversized head), by status code.
# TYPE sluice_listener_refusals_total counter
sluice_listener_refusals_total{code="400"} 2
sluice_listener_refusals_total{code="431"} 2
sluice_listener_refusals_total{code="505"} 2
`
	if err := testutil.GatherAndCompare(tg.g.promReg, strings.NewReader(want), "sluice_requests_total", "sluice_listener_refusals_total"); err != nil {
		t.Error(err)
	}
}
