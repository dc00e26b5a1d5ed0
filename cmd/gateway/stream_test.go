package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"
)

// An SSE backend writes 100 events, one every 10 ms at most, each flushed,
// and writes event i+1 only once the test acknowledged that event i reached
// the client through the gateway: without a flush per event, event 0 would
// stay in the gateway's buffers and the test would fail at waitLimit. The
// delay from the backend's flush to the client's read is logged (issue 12:
// within 5 ms of the flush), on both listener servers.
func TestServerSentEventsAreFlushedOneByOne(t *testing.T) {
	const events = 100
	for _, kind := range listenerKinds {
		t.Run(kind, func(t *testing.T) {
			srv, flushed, ack := eventBackend(t, events, func(i int) string { return fmt.Sprintf("event %d", i) })
			cfg, _ := loadFile(t, configText(srv.Listener.Addr().String(), "  - {path: /events, service: svc}\n"))
			logger, _ := newLogger()
			_, addr := startGateway(t, cfg, logger, kind)

			resp, err := freshClient().Get("http://" + addr + "/events")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
				t.Fatalf("Content-Type %q", ct)
			}
			delays := readFlushedEvents(t, resp.Body, events, flushed, ack, func(i int) string { return fmt.Sprintf("event %d", i) })
			slices.Sort(delays)
			t.Logf("%s: %d events, delay from the backend's flush to the client: p50 %v, p90 %v, max %v",
				kind, events, delays[events/2], delays[events*9/10], delays[events-1])
		})
	}
}

// Trailers reach the client, those the backend declared in its Trailer
// field and those it sent undeclared (http.TrailerPrefix), on both
// listener servers; a body with trailers is not aborted.
func TestTrailersReachTheClient(t *testing.T) {
	for _, kind := range listenerKinds {
		for _, size := range []int{5, 100 << 10} {
			t.Run(fmt.Sprintf("%s/%d bytes", kind, size), func(t *testing.T) {
				body := strings.Repeat("b", size)
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Trailer", "X-Checksum")
					io.WriteString(w, body)
					w.Header().Set("X-Checksum", "sum-1")
					w.Header().Set(http.TrailerPrefix+"X-Late", "late-2")
				}))
				t.Cleanup(srv.Close)
				cfg, _ := loadFile(t, configText(srv.Listener.Addr().String(), "  - {path: /t, service: svc}\n"))
				logger, _ := newLogger()
				_, addr := startGateway(t, cfg, logger, kind)

				resp, err := freshClient().Get("http://" + addr + "/t")
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if resp.Header.Get("X-Checksum") != "" {
					t.Errorf("the trailer came as a header field: %v", resp.Header)
				}
				got, err := io.ReadAll(resp.Body)
				if err != nil || string(got) != body {
					t.Fatalf("body: %d bytes, %v", len(got), err)
				}
				if v := resp.Trailer.Get("X-Checksum"); v != "sum-1" {
					t.Errorf("declared trailer X-Checksum = %q, want sum-1 (trailer %v)", v, resp.Trailer)
				}
				if v := resp.Trailer.Get("X-Late"); v != "late-2" {
					t.Errorf("undeclared trailer X-Late = %q, want late-2 (trailer %v)", v, resp.Trailer)
				}
			})
		}
	}
}

// eventBackend is a backend that answers every request with a stream of n
// server-sent events, data(i) each: it flushes each one, sends its flush
// time on flushed, and waits for the test's ack (or the request's end, or
// waitLimit) before pacing the next 10 ms later. It stops when the test
// ends.
func eventBackend(t *testing.T, n int, data func(i int) string) (srv *httptest.Server, flushed chan time.Time, ack chan struct{}) {
	t.Helper()
	flushed = make(chan time.Time, n)
	ack = make(chan struct{})
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for i := range n {
			fmt.Fprintf(w, "id: %d\ndata: %s\n\n", i, data(i))
			t0 := time.Now()
			w.(http.Flusher).Flush()
			flushed <- t0
			select {
			case <-ack:
			case <-r.Context().Done():
				return
			case <-time.After(waitLimit):
				return
			}
			time.Sleep(10 * time.Millisecond) // the backend's pace, not a wait for a condition
		}
	}))
	t.Cleanup(srv.Close)
	return srv, flushed, ack
}

// readFlushedEvents reads n events of an eventBackend from body, checks each one's
// id and data(i), acks all but the last, and returns the delays from the
// backend's flush of each event to its arrival here.
func readFlushedEvents(t *testing.T, body io.Reader, n int, flushed <-chan time.Time, ack chan<- struct{}, data func(i int) string) []time.Duration {
	t.Helper()
	br := bufio.NewReader(body)
	delays := make([]time.Duration, 0, n)
	for i := range n {
		var ev strings.Builder
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("event %d: %v after %q", i, err, ev.String())
			}
			if line == "\n" {
				break
			}
			ev.WriteString(line)
		}
		got := time.Now()
		if want := fmt.Sprintf("id: %d\ndata: %s\n", i, data(i)); ev.String() != want {
			t.Fatalf("event %d: %q, want %q", i, ev.String(), want)
		}
		delays = append(delays, got.Sub(<-flushed))
		if i < n-1 {
			ack <- struct{}{}
		}
	}
	return delays
}
