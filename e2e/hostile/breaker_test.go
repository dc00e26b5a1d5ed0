package hostile

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

func breakerCases() []hcase {
	return []hcase{{family: "client-faults-vs-breakers", alone: true,
		name: "malformed and abandoned bodies, held or streamed, and empty ones with trailers leave the breaker closed", run: clientFaultsSpareBreaker}}
}

// clientFaultsSpareBreaker: faults in the client's request (a malformed
// body, a body abandoned halfway) are the client's. They get a 4xx (or
// nothing, for a client that left), and no breaker, ejection or retry
// counts them against the service.
func clientFaultsSpareBreaker(t *testing.T, s *stack) {
	base := metric(t, s, "sluice_requests_total")
	for i := range 10 {
		x := send(t, s.gw, fmt.Sprintf("POST /brk/malformed%d HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nx\r\n0\r\n\r\n", i))
		if len(x.answers) == 0 {
			t.Errorf("malformed body %d: no answer (%v)", i, x.end)
			continue
		}
		if a := x.answers[0]; a.status() < 400 || a.status() >= 500 {
			t.Errorf("malformed body %d: answered %d %s, want a 4xx: the fault is the client's", i, a.status(), a.body)
		}
	}
	for i := range 10 {
		c := dial(t, s.gw)
		if _, err := io.WriteString(c, fmt.Sprintf("POST /brk/abandoned%d HTTP/1.1\r\nHost: h\r\nContent-Length: 50\r\n\r\nhello", i)); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	// Bodies past the router's replay buffer are streamed to the node as
	// they come, so their faults end an attempt in flight: the case where
	// the upstream client must tell the client's fault from the node's.
	big := strings.Repeat("x", 100<<10)
	for i := range 5 {
		x := send(t, s.gw, fmt.Sprintf("POST /brk/streamed-malformed%d HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\nzz\r\nx\r\n0\r\n\r\n", i, len(big), big))
		if len(x.answers) == 0 {
			t.Errorf("streamed malformed body %d: no answer (%v)", i, x.end)
			continue
		}
		if a := x.answers[0]; a.status() < 400 || a.status() >= 500 {
			t.Errorf("streamed malformed body %d: answered %d %s, want a 4xx: the fault is the client's", i, a.status(), a.body)
		}
	}
	for i := range 5 {
		c := dial(t, s.gw)
		if _, err := io.WriteString(c, fmt.Sprintf("POST /brk/streamed-abandoned%d HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n%s", i, 2*len(big), big)); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
	// An empty body with a declared trailer is no fault at all, but the
	// forward once made it a request net/http's transport refused (a nil
	// body of unknown length): a 502, blamed on the node.
	for i := range 10 {
		x := send(t, s.gw, fmt.Sprintf("PUT /brk/trailered%d HTTP/1.1\r\nHost: h\r\nConnection: close\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Sum: 1\r\n\r\n", i))
		if len(x.answers) == 0 {
			t.Errorf("empty body with a trailer %d: no answer (%v)", i, x.end)
			continue
		}
		if a := x.answers[0]; !a.fromBackend() || a.status() != http.StatusOK {
			t.Errorf("empty body with a trailer %d: answered %d %s, want the backend's 200", i, a.status(), a.body)
		}
	}
	// Wait until the gateway has finished all 40.
	waitMetric(t, s, "sluice_requests_total", func(v float64) bool { return v >= base+40 })

	a, x := get(t, s.gw, "/brk/after")
	if !a.fromBackend() || a.status() != http.StatusOK {
		t.Errorf("another client's normal request: %s, want 200 from the backend", x)
	}
	// The normal request made sure the service has a breaker to read.
	checkSpared(t, s, "brk")
	for _, rec := range s.brk.matching("/brk/") {
		if rec.BodyErr == nil && rec.RequestURI != "/brk/after" && !strings.HasPrefix(rec.RequestURI, "/brk/trailered") {
			t.Errorf("the backend completed %s %s, whose body was broken", rec.Method, rec.RequestURI)
		}
	}
}

// checkSpared fails t when the breaker of service has counted a fault,
// or a node of it is ejected, after its clients' faults, none of them its
// own. The service has had a call since its start: it has a breaker.
func checkSpared(t *testing.T, s *stack, service string) {
	t.Helper()
	st := adminUpstream(t, s)
	t.Logf("admin/upstream after the client faults: %+v", st)
	found := false
	for _, b := range st.Breakers {
		if b.Service != service {
			continue
		}
		found = true
		if b.State != "closed" || b.Faults != 0 {
			t.Errorf("the service's breaker is %s with %d faults in %d calls: client faults were counted against it", b.State, b.Faults, b.Calls)
		}
	}
	if !found {
		t.Errorf("no breaker for service %s in /admin/upstream", service)
	}
	for _, e := range st.Ejections {
		if strings.Contains(e.Node, service) {
			t.Errorf("node %s was ejected for its clients' faults", e.Node)
		}
	}
}
