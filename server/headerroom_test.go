package server

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"
)

// TestHeaderRoom: a handler that adds fields to a request's header, as a
// proxy forwarding it in place does, grows the map the server made for the
// request's own fields once they no longer fit; with HeaderRoom for them the
// server makes the map large enough, and a request costs fewer
// allocations. The fields themselves are the same either way.
func TestHeaderRoom(t *testing.T) {
	const added, requests = 5, 200
	head := "GET /x HTTP/1.1\r\nHost: h\r\nUser-Agent: t\r\nAccept: */*\r\nAccept-Language: en\r\n" +
		"Cookie: a=b\r\nReferer: https://example.com/\r\nCache-Control: no-cache\r\n\r\n"
	perRequest := func(room int) float64 {
		ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := len(r.Header)
			for _, k := range []string{"X-Request-Id", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "Sluice-Budget"} {
				r.Header[k] = []string{"v"}
			}
			if len(r.Header) != n+added {
				t.Errorf("header of %d fields, want %d", len(r.Header), n+added)
			}
		}), func(s *Server) { s.HeaderRoom = room })
		c, err := net.Dial("tcp", ts.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		br := bufio.NewReader(c)
		roundTrip := func() {
			if _, err := io.WriteString(c, head); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		roundTrip() // the connection's first request sets up its buffers
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range requests {
			roundTrip()
		}
		runtime.ReadMemStats(&after)
		return float64(after.Mallocs-before.Mallocs) / requests
	}
	without, with := perRequest(0), perRequest(added)
	// The map the room spares is one allocation (a small map's slots,
	// outgrown); half of one allows for a stray allocation of the runtime's.
	if with > without-0.5 {
		t.Errorf("allocations a request: %.2f with HeaderRoom %d, %.2f without; want one fewer", with, added, without)
	}
	t.Logf("allocations a request (server and client): %.2f without HeaderRoom, %.2f with", without, with)
}
