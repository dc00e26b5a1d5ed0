package hostile

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A client that goes away while the node works on its request, or in the
// middle of a long answer (it read the header and a little of the body,
// then reset the connection, as a browser does when its user navigates
// away), ends a call the node was serving well. That is the client's
// doing: with the defaults, a crowd of such clients must leave the
// service's breaker without a fault, the node not ejected, and the next
// client served.

// TestClientsThatLeaveMidAnswerSpareTheService: 40 clients each reset
// once the node holds their request (it answers only when the gateway
// gives the request up), and 40 each read the header and the first bytes
// of a 4 MiB answer, then reset; then another client gets the whole
// answer, and /admin/upstream shows no fault.
func TestClientsThatLeaveMidAnswerSpareTheService(t *testing.T) {
	const size = 4 << 20
	chunk := strings.Repeat("a", 32<<10)
	onEachServer(t, func(t *testing.T, srv listenerServer) {
		held := make(chan struct{})
		backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/leave/held") {
				select {
				case held <- struct{}{}:
					<-r.Context().Done() // the gateway gave the request up
				case <-r.Context().Done():
				}
				return
			}
			w.Header().Set("Content-Length", fmt.Sprint(size))
			for range size / len(chunk) {
				if _, err := io.WriteString(w, chunk); err != nil {
					return
				}
			}
		}))
		t.Cleanup(backend.Close)
		addrs := serviceGateway(t, srv.config, "leave", backend.URL)
		reset := func(c net.Conn) {
			c.(*net.TCPConn).SetLinger(0) // a reset, not an orderly close
			c.Close()
		}
		for i := range 40 {
			c, err := net.Dial("tcp", addrs[0])
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(c, "GET /leave/held%d HTTP/1.1\r\nHost: h\r\n\r\n", i)
			<-held
			reset(c)
		}
		for i := range 40 {
			c, err := net.Dial("tcp", addrs[0])
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(c, "GET /leave/%d HTTP/1.1\r\nHost: h\r\n\r\n", i)
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("client %d: %v", i, err)
			}
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("client %d: status %d, want the backend's 200", i, resp.StatusCode)
			}
			if _, err := io.ReadFull(resp.Body, make([]byte, 1000)); err != nil {
				t.Fatalf("client %d: reading the body's start: %v", i, err)
			}
			reset(c)
		}
		// The gateway has ended every one of the 80 calls, and judged them.
		waitMetric(t, &stack{admin: addrs[1]}, "sluice_requests_total", func(v float64) bool { return v >= 80 })
		resp, err := http.Get("http://" + addrs[0] + "/leave/after")
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || err != nil || n != size {
			t.Fatalf("the next client: %d, %d bytes, %v; want the whole 200", resp.StatusCode, n, err)
		}
		st := upstreamAt(t, addrs[1])
		t.Logf("admin/upstream: %+v", st)
		found := false
		for _, b := range st.Breakers {
			if b.Service == "leave" {
				found = true
				if b.State != "closed" || b.Faults != 0 {
					t.Errorf("the breaker is %s with %d faults in %d calls: clients that left were counted against the service", b.State, b.Faults, b.Calls)
				}
			}
		}
		if !found {
			t.Error("no breaker for service leave in /admin/upstream")
		}
		for _, e := range st.Ejections {
			t.Errorf("node %s was ejected for its clients leaving", e.Node)
		}
	})
}
