package hostile

import (
	"bytes"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// h2ClientFaults: what clientFaultsSpareBreaker checks of HTTP/1.1 clients,
// for faults only an HTTP/2 client can commit: a body that ends short of
// its content-length, and a stream the client resets halfway through its
// body, each within the 64 KiB the router holds and beyond it (streamed
// to the node as it comes, so that its fault ends an attempt in flight);
// and a DELETE with a declared trailer and an empty body, no fault at
// all, whose trailer the forward once lost. The short ones get a stream
// error or a 4xx, the DELETEs the backend's 200 with the trailer, the
// faults route's backend completes no broken body, and its service's
// breaker and node count none of them.
func h2ClientFaults(t *testing.T, s *h2Stack) {
	const route = `route="faults"`
	base := metricAt(t, s.admin, "sluice_requests_total", route)
	h := s.dial(t)
	last := uint32(0)
	next := func() uint32 { last += 2; return last - 1 } // the client's streams: 1, 3, 5, ...
	small, big := bytes.Repeat([]byte("s"), 5), bytes.Repeat([]byte("b"), 100<<10)
	sent := 0
	for _, c := range []struct {
		name  string
		n     int    // requests
		cl    int    // content-length declared
		data  []byte // sent of it
		reset bool   // the client resets the stream after data; else ends it
	}{
		{"short", 10, 50, small, false},
		{"reset", 10, 50, small, true},
		{"streamed-short", 5, 2 * len(big), big, false},
		{"streamed-reset", 5, 2 * len(big), big, true},
	} {
		for i := range c.n {
			id := next()
			path := fmt.Sprintf("/faults/%s%d", c.name, i)
			if err := h.request(id, "POST", path, false, "content-length", strconv.Itoa(c.cl)); err != nil {
				t.Fatal(err)
			}
			if err := h.data(id, c.data, !c.reset); err != nil {
				t.Fatal(err)
			}
			sent++
			if c.reset {
				if err := h.write(func(fr *http2.Framer) error { return fr.WriteRSTStream(id, http2.ErrCodeCancel) }); err != nil {
					t.Fatal(err)
				}
				continue
			}
			if a := h.wait(id); !a.rst && (a.status < 400 || a.status > 499 || a.header.Get("X-Seen") != "") {
				t.Errorf("%s: %v, want a stream error or a 4xx of the gateway's: the fault is the client's", path, a)
			}
		}
	}
	for i := range 10 {
		id := next()
		path := fmt.Sprintf("/faults/trailered%d", i)
		if err := h.request(id, "DELETE", path, false, "trailer", "x-sum"); err != nil {
			t.Fatal(err)
		}
		if err := h.headers(id, true, "x-sum", strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
		sent++
		if a := h.wait(id); a.status != http.StatusOK || a.header.Get("X-Seen") == "" {
			t.Errorf("%s: %v, want the backend's 200", path, a)
		}
	}
	// Wait until the gateway has finished them all, reset ones included.
	deadline := time.Now().Add(hangLimit)
	for metricAt(t, s.admin, "sluice_requests_total", route) < base+float64(sent) {
		if time.Now().After(deadline) {
			t.Fatalf("the gateway finished %v of %d requests", metricAt(t, s.admin, "sluice_requests_total", route)-base, sent)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, not waiting for luck
	}
	if a := s.dial(t).get(1, "/faults/after"); a.status != http.StatusOK || a.header.Get("X-Seen") == "" {
		t.Errorf("another client's normal request: %v, want the backend's 200", a)
	}
	checkSpared(t, s.stack, "faults")
	for _, rec := range s.faults.matching("/faults/") {
		switch {
		case strings.HasPrefix(rec.RequestURI, "/faults/trailered"):
			if want := strings.TrimPrefix(rec.RequestURI, "/faults/trailered"); rec.Trailer.Get("X-Sum") != want {
				t.Errorf("the backend got %s %s with trailers %v, want X-Sum: %s", rec.Method, rec.RequestURI, rec.Trailer, want)
			}
		case rec.RequestURI != "/faults/after" && rec.BodyErr == nil:
			t.Errorf("the backend completed %s %s, whose body was broken", rec.Method, rec.RequestURI)
		}
	}
}

// h2ClientsLeaveMidAnswer: what TestClientsThatLeaveMidAnswerSpareTheService
// checks of HTTP/1.1 clients, for an HTTP/2 client that resets its streams
// once their answers began (a browser's tab closed): 20 streams of the
// leave route's 64 MiB answers, each reset after its 200 header, leave the
// service's breaker without a fault and its node not ejected.
func h2ClientsLeaveMidAnswer(t *testing.T, s *h2Stack) {
	const route, n = `route="leave"`, 20
	base := metricAt(t, s.admin, "sluice_requests_total", route)
	h := s.dial(t)
	for i := range n {
		id := uint32(2*i + 1)
		if err := h.request(id, "GET", fmt.Sprintf("/leave/%d", i), true); err != nil {
			t.Fatal(err)
		}
		if st := h.waitStatus(id); st != http.StatusOK {
			t.Fatalf("stream %d: status %d, want the backend's 200", id, st)
		}
		if err := h.write(func(fr *http2.Framer) error { return fr.WriteRSTStream(id, http2.ErrCodeCancel) }); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(hangLimit)
	for metricAt(t, s.admin, "sluice_requests_total", route) < base+n {
		if time.Now().After(deadline) {
			t.Fatalf("the gateway finished %v of %d requests", metricAt(t, s.admin, "sluice_requests_total", route)-base, n)
		}
		time.Sleep(20 * time.Millisecond) // polling a condition, not waiting for luck
	}
	checkSpared(t, s.stack, "leave")
}
