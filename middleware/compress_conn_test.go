package middleware_test

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/middleware"
)

// The compressing writer and what a handler does with the connection:
// upgrades, hijacking, trailers, flushes, aborts.

// TestCompressUpgradesPassUntouched: a request that switches protocols
// gets the server's own writer, which can be hijacked.
func TestCompressUpgradesPassUntouched(t *testing.T) {
	c := newCompress(t, middleware.CompressSettings{})
	srv := httptest.NewServer(c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nswitched")
		_ = brw.Flush()
	})))
	defer srv.Close()
	conn, err := netDial(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\nAccept-Encoding: gzip\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 101 || res.Header.Get("Content-Encoding") != "" {
		t.Fatalf("answer %v, %v", res, err)
	}
	if rest, _ := io.ReadAll(br); string(rest) != "switched" {
		t.Fatalf("after the switch: %q", rest)
	}
}

// TestCompressTrailersAndHijack: trailers set after a compressed body
// reach the client, and a writer being compressed can still be hijacked.
func TestCompressTrailersAndHijack(t *testing.T) {
	c := newCompress(t, middleware.CompressSettings{MinSize: -1})
	srv := httptest.NewServer(c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hijack" {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("Hijack: %v", err)
				return
			}
			_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nraw")
			conn.Close()
			return
		}
		w.Header().Set("Trailer", "X-Checksum")
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, strings.Repeat("data ", 1000))
		w.(http.Flusher).Flush()
		w.Header().Set("X-Checksum", "abc")
	})))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/", nil)
	req.Header.Set("Accept-Encoding", "zstd")
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	got, err := io.ReadAll(decoder(t, res.Header.Get("Content-Encoding"), res.Body))
	if err != nil || string(got) != strings.Repeat("data ", 1000) || res.Header.Get("Content-Encoding") != "zstd" {
		t.Fatalf("body %d bytes, %v, encoding %q", len(got), err, res.Header.Get("Content-Encoding"))
	}
	_, _ = io.Copy(io.Discard, res.Body)
	if res.Trailer.Get("X-Checksum") != "abc" {
		t.Errorf("trailers %v", res.Trailer)
	}
	req, _ = http.NewRequest("GET", srv.URL+"/hijack", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	res, err = srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if b, _ := io.ReadAll(res.Body); string(b) != "raw" {
		t.Errorf("hijacked answer %q", b)
	}
}

// TestCompressedEventsArriveAtOnce: a server-sent event that the handler
// flushed reaches the client, decoded, while the handler waits for the
// client to have it (so the compressor cannot be holding it), in every
// coding; the time from the flush to the event decoded is logged.
func TestCompressedEventsArriveAtOnce(t *testing.T) {
	c := newCompress(t, middleware.CompressSettings{})
	for _, coding := range []string{"zstd", "br", "gzip"} {
		t.Run(coding, func(t *testing.T) {
			got := make(chan struct{})
			flushed := make(chan time.Time, 1)
			srv := httptest.NewServer(c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				for i := range 3 {
					fmt.Fprintf(w, "data: {\"n\": %d}\n\n", i)
					flushed <- time.Now()
					w.(http.Flusher).Flush()
					select {
					case <-got:
					case <-r.Context().Done():
						return
					}
				}
			})))
			defer srv.Close()
			req, _ := http.NewRequest("GET", srv.URL, nil)
			req.Header.Set("Accept-Encoding", coding)
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.Header.Get("Content-Encoding") != coding {
				t.Fatalf("Content-Encoding %q", res.Header.Get("Content-Encoding"))
			}
			events := bufio.NewReader(decoder(t, coding, res.Body))
			var worst time.Duration
			for i := range 3 {
				line, err := events.ReadString('\n')
				if err != nil || line != fmt.Sprintf("data: {\"n\": %d}\n", i) {
					t.Fatalf("event %d: %q, %v", i, line, err)
				}
				worst = max(worst, time.Since(<-flushed))
				if _, err := events.ReadString('\n'); err != nil {
					t.Fatal(err)
				}
				got <- struct{}{}
			}
			t.Logf("%s: slowest event decoded %v after its flush", coding, worst)
			if worst > 2*time.Second { // generous: a bound against holding, not a benchmark
				t.Errorf("an event took %v", worst)
			}
		})
	}
}

func netDial(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, 10*time.Second) }

// TestCompressAbortedAnswerNeverLooksComplete: an answer aborted midway
// (http.ErrAbortHandler, as the router does when the backend's body
// breaks) goes through the compressing writer to the server, which cuts
// the connection: the client sees an error, never a complete-looking body
// (a wrapper that finished the answer instead would fail this).
func TestCompressAbortedAnswerNeverLooksComplete(t *testing.T) {
	c := newCompress(t, middleware.CompressSettings{})
	srv := httptest.NewServer(c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, strings.Repeat("half an answer ", 5000))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	})))
	defer srv.Close()
	for _, coding := range []string{"zstd", "br", "gzip"} {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		req.Header.Set("Accept-Encoding", coding)
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(decoder(t, coding, res.Body))
		res.Body.Close()
		if err == nil {
			t.Errorf("%s: an aborted answer decoded without error", coding)
		}
	}
}
