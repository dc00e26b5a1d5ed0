package hostile

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestOneClientsHTTP2StreamsLeaveANodesConnectionsToOthers: one client
// address with three HTTP/2 connections, each keeping its 100 streams in
// flight on requests the node holds for their whole budget, and another
// client's requests with a budget of 1 s. The per-address bound counts
// connections, not streams, and a node's pool holds 256 connections: the
// one client's 300 streams held all of them, with 44 more waiting, and the
// other client's requests waited for a connection until their budget ran
// out (504) or were refused by the node's queue check (503): 4 and 18 of
// 20 in two runs. Its share of the service's calls
// (upstream/limit_share.go) now bounds the one client at three quarters
// of the node's connections, and the other's requests are all served.
func TestOneClientsHTTP2StreamsLeaveANodesConnectionsToOthers(t *testing.T) {
	var open, most atomic.Int64 // the node's connections
	backend := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/sp/hold") {
			<-r.Context().Done() // held until the gateway gives up: its budget
			return
		}
		io.WriteString(w, "ok")
	}))
	backend.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			n := open.Add(1)
			for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
			}
		case http.StateClosed, http.StateHijacked:
			open.Add(-1)
		}
	}
	backend.Start()
	t.Cleanup(backend.Close)
	var b strings.Builder
	b.WriteString("listeners:\n  - {address: \"127.0.0.1:0\", h2c: true}\n")
	b.WriteString("admin: {address: \"127.0.0.1:0\"}\nshutdown_grace: 1s\n")
	fmt.Fprintf(&b, "registry:\n  kind: static\n  static:\n    - {service: sp, id: sp-1, address: %q}\n",
		strings.TrimPrefix(backend.URL, "http://"))
	b.WriteString("routes:\n  - {name: sp, method: GET, path: /sp/*, service: sp}\n")
	_, addrs := startWith(t, b.String())

	user := clientFrom("127.0.0.2")
	userGet := func(i int) (int, string) {
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://%s/sp/fast/%d", addrs[0], i), nil)
		req.Header.Set("Sluice-Budget", "ms=1000")
		resp, err := user.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(body)
	}
	// The other client calls at its pace throughout, before the streams
	// come too: the gateway knows it for a caller of the service.
	if code, body := userGet(0); code != http.StatusOK {
		t.Fatalf("the other client's first request: %d %s", code, body)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	defer wg.Wait()
	defer close(stop)
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			userGet(-2 - i)
			time.Sleep(100 * time.Millisecond) // the other client's pace
		}
	})
	var refused atomic.Int64
	for c := range 3 {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.1")}, Timeout: hangLimit}
		nc, err := d.Dial("tcp", addrs[0])
		if err != nil {
			t.Fatal(err)
		}
		h := h2On(t, nc)
		var order sync.Mutex // stream ids go out in order
		next := uint32(1)
		for slot := range 100 {
			wg.Go(func() {
				for i := 0; ; i++ {
					order.Lock()
					id := next
					next += 2
					err := h.request(id, "GET", fmt.Sprintf("/sp/hold/%d/%d/%d", c, slot, i), true)
					order.Unlock()
					if err != nil {
						return
					}
					select {
					case <-stop:
						return
					case <-h.closed:
						return
					default:
					}
					if a := h.wait(id); a.status != http.StatusOK && a.status != http.StatusGatewayTimeout {
						refused.Add(1)
						time.Sleep(50 * time.Millisecond) // the client's pace after a refusal
					}
				}
			})
		}
	}
	waitFor(t, "the streams to fill three quarters of the node's connections", func() bool { return open.Load() >= 192 })
	failed := 0
	for i := range 20 {
		if code, body := userGet(1 + i); code != http.StatusOK {
			failed++
			t.Logf("the other client's request %d: %d %.120s", i, code, body)
		}
		time.Sleep(100 * time.Millisecond) // the other client's pace
	}
	t.Logf("the other client: %d of 20 requests failed; the node had at most %d connections open at once; %d of the streams refused",
		failed, most.Load(), refused.Load())
	if failed > 0 {
		t.Errorf("%d of the other client's 20 requests failed, want none: one client's streams took the node's connections", failed)
	}
}
