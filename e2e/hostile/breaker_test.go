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
		name: "10 malformed chunked bodies and 10 abandoned bodies leave the breaker closed", run: clientFaultsSpareBreaker}}
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
	// Wait until the gateway has finished all 20.
	waitMetric(t, s, "sluice_requests_total", func(v float64) bool { return v >= base+20 })

	st := adminUpstream(t, s)
	t.Logf("admin/upstream after the client faults: %+v", st)
	for _, b := range st.Breakers {
		if b.Service == "brk" && (b.State != "closed" || b.ConsecutiveFaults != 0) {
			t.Errorf("the service's breaker is %s with %d consecutive faults: client faults were counted against it", b.State, b.ConsecutiveFaults)
		}
	}
	for _, e := range st.Ejections {
		if strings.Contains(e.Node, "brk") {
			t.Errorf("node %s was ejected for its clients' faults", e.Node)
		}
	}
	a, x := get(t, s.gw, "/brk/after")
	if !a.fromBackend() || a.status() != http.StatusOK {
		t.Errorf("another client's normal request: %s, want 200 from the backend", x)
	}
	for _, rec := range s.brk.matching("/brk/") {
		if rec.BodyErr == nil && rec.RequestURI != "/brk/after" {
			t.Errorf("the backend completed %s %s, whose body was broken", rec.Method, rec.RequestURI)
		}
	}
}
