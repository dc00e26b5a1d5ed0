package server

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestLargeHeaderNotKept proves that a connection does not keep, between
// answers, the memory a large answer header took: the buffer it serializes
// header fields into grew to the largest header it ever sent and stayed so
// for the connection's life, idle time included, so that one answer with a
// large field (a backend's, or one echoing the client's own 64 KiB header)
// pinned that much per kept-alive connection, where net/http's server keeps
// nothing of it. The handler of the next request, which runs on the
// connection's goroutine, looks at what the connection holds before it
// answers. Trailers and 1xx answers go through the same buffer.
func TestLargeHeaderNotKept(t *testing.T) {
	big := strings.Repeat("b", 64<<10)
	held := make(chan int, 4)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/header":
			w.Header().Set("X-Big", big)
		case "/trailer":
			w.Header().Set("Trailer", "X-Big")
			w.(http.Flusher).Flush()
			w.Header().Set("X-Big", big)
		case "/1xx":
			w.Header().Set("Link", big)
			w.WriteHeader(http.StatusEarlyHints)
			w.Header().Del("Link")
		default:
			held <- cap(w.(*response).c.hdr)
		}
		io.WriteString(w, "ok")
	}))
	for _, path := range []string{"/header", "/trailer", "/1xx"} {
		t.Run(strings.TrimPrefix(path, "/"), func(t *testing.T) {
			rc := dialRaw(t, ts.addr)
			rc.send("GET " + path + " HTTP/1.1\r\nHost: x\r\n\r\nGET /peek HTTP/1.1\r\nHost: x\r\n\r\n")
			if path == "/1xx" {
				if r := rc.read("GET"); r.status != http.StatusEarlyHints || len(r.header.Get("Link")) != len(big) {
					t.Fatalf("got %d with %d bytes of Link, want the 103 with all of it", r.status, len(r.header.Get("Link")))
				}
				rc.read("GET").checkOK(t, "ok")
			} else if r := rc.read("GET"); r.status != http.StatusOK || len(r.header.Get("X-Big")+r.trailer.Get("X-Big")) != len(big) {
				t.Fatalf("got %d with %d bytes of X-Big, want 200 with all of it", r.status, len(r.header.Get("X-Big")+r.trailer.Get("X-Big")))
			}
			rc.read("GET").checkOK(t, "ok")
			if n := wait(t, held, "the next request's handler"); n > 2*pendCap {
				t.Errorf("after a %d-byte field (%s) the connection kept a %d-byte buffer for the next answer's header", len(big), path, n)
			}
		})
	}
}

// TestBodyReadAfterConnectionEnds proves that a request body read after
// its connection ended fails with http.ErrBodyReadAfterClose, as with
// net/http's server, which closes every request's body once its handler
// returned. Here the body read through the connection's buffered reader,
// which by then was back in the pool: the read dereferenced the nil reader
// Reset left there (a panic in the reading goroutine, which no server
// recovers: the process ends), or, with the reader handed to another
// connection, read that connection's bytes as this body's. A goroutine that
// outlives its handler and reads the body is the norm for a proxy's
// transport that writes the body while it reads the answer: net/http's
// Transport returns a backend's early answer with the body still being
// read. The connection ends with the answer (Connection: close, the body
// unread) or with a handler's panic.
func TestBodyReadAfterConnectionEnds(t *testing.T) {
	for _, abort := range []bool{false, true} {
		t.Run(fmt.Sprintf("abort=%v", abort), func(t *testing.T) {
			release, result := make(chan struct{}), make(chan string, 1)
			ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				go func() {
					<-release
					result <- readLate(r.Body)
				}()
				if abort {
					panic(http.ErrAbortHandler)
				}
				io.WriteString(w, "ok")
			}))
			rc := dialRaw(t, ts.addr)
			rc.send("POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 10\r\n\r\nhello")
			if !abort {
				rc.read("POST").checkOK(t, "ok")
			}
			rc.expectClosed()
			rc.c.Close()
			waitFor(t, "the connection to end", func() bool {
				ts.mu.Lock()
				defer ts.mu.Unlock()
				return len(ts.conns) == 0
			})
			close(release)
			if got, want := wait(t, result, "the late read"), fmt.Sprintf("0 %v", http.ErrBodyReadAfterClose); got != want {
				t.Errorf("a read of the body after its connection ended got %s, want %s (net/http's)", got, want)
			}
		})
	}
}

// readLate reads body once, and tells what the read returned or how it
// panicked.
func readLate(body io.Reader) (s string) {
	defer func() {
		if v := recover(); v != nil {
			s = fmt.Sprintf("a panic: %v", v)
		}
	}()
	n, err := body.Read(make([]byte, 10))
	return fmt.Sprintf("%d %v", n, err)
}
