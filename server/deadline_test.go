package server

import (
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestWriteDeadline proves that a write deadline a handler sets through
// http.ResponseController ends its writes to a client that does not read,
// on both servers.
func TestWriteDeadline(t *testing.T) {
	errs := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).SetWriteDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
			errs <- err
			return
		}
		chunk := []byte(strings.Repeat("x", 1<<20))
		for {
			if _, err := w.Write(chunk); err != nil {
				errs <- err
				return
			}
		}
	})
	for _, srv := range bothServers(t, h, limits{}) {
		rc := dialRaw(t, srv.addr)
		rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n") // and never read
		if err := wait(t, errs, "the write to fail"); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s: the write failed with %v, want the deadline's error", srv.name, err)
		}
	}
}

// TestReadDeadline proves that a read deadline a handler sets through
// http.ResponseController ends its reads of a stalled body, on both
// servers.
func TestReadDeadline(t *testing.T) {
	errs := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).SetReadDeadline(time.Now().Add(100 * time.Millisecond)); err != nil {
			errs <- err
			return
		}
		_, err := io.ReadAll(r.Body)
		errs <- err
	})
	for _, srv := range bothServers(t, h, limits{}) {
		rc := dialRaw(t, srv.addr)
		rc.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab") // and stall
		if err := wait(t, errs, "the read to fail"); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("%s: the read failed with %v, want the deadline's error", srv.name, err)
		}
	}
}

// TestDeadlinesEndWithTheRequest proves that the deadlines a handler set
// do not outlive its request: the next request on the connection, after
// they passed, is read and answered, as net/http does.
func TestDeadlinesEndWithTheRequest(t *testing.T) {
	deadline := make(chan time.Time, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/set" {
			d := time.Now().Add(50 * time.Millisecond)
			rc := http.NewResponseController(w)
			rc.SetReadDeadline(d)
			rc.SetWriteDeadline(d)
			deadline <- d
		}
		io.WriteString(w, "ok")
	})
	for _, srv := range bothServers(t, h, limits{}) {
		rc := dialRaw(t, srv.addr)
		rc.send("GET /set HTTP/1.1\r\nHost: x\r\n\r\n")
		rc.read("GET").checkOK(t, "ok")
		// Past the handler's deadlines, by the clock: no guess.
		time.Sleep(time.Until(wait(t, deadline, "the handler")) + 10*time.Millisecond)
		rc.send("GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
		rc.read("GET").checkOK(t, "ok")
	}
}

// TestWatchAfterClearedDeadline proves that a read deadline the handler set,
// which fires while the watch reads, is not taken for the client leaving
// when the handler cleared it in the meantime: the request goes on, and
// the watch goes on watching (it still notices the client leaving later).
func TestWatchAfterClearedDeadline(t *testing.T) {
	fired := make(chan struct{})       // the watch's read returned with the deadline's error
	release := newGate()               // the watch may look at that error
	reread := make(chan struct{}, 4)   // the watch reads (again)
	closeClient := make(chan struct{}) // the handler saw the watch read again
	testHookWatchRead = func() { reread <- struct{}{} }
	testHookWatchReadDone = func(err error) {
		if errors.Is(err, os.ErrDeadlineExceeded) && !release.isOpen() {
			close(fired)
			<-release.ch
		}
	}
	t.Cleanup(func() { testHookWatchRead, testHookWatchReadDone = nil, nil })
	outcome := make(chan string, 1)
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		wait(t, reread, "the watch to read")
		rc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
		wait(t, fired, "the deadline to fire")
		rc.SetReadDeadline(time.Time{})
		release.open()
		select {
		case <-r.Context().Done():
			outcome <- "the request was cancelled when the cleared deadline fired"
			return
		case <-reread:
		case <-time.After(waitLimit):
			outcome <- "the watch did not read again"
			return
		}
		close(closeClient)
		select {
		case <-r.Context().Done():
			outcome <- ""
		case <-time.After(waitLimit):
			outcome <- "the client's leaving went unnoticed"
		}
	}), func(s *Server) { s.WatchAfter = -1 })
	t.Cleanup(release.open)
	rc := dialRaw(t, ts.addr)
	rc.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	select {
	case <-closeClient:
		rc.c.Close()
	case msg := <-outcome:
		t.Fatal(msg)
	case <-time.After(waitLimit):
		t.Fatal("the handler did not get to the client's leaving")
	}
	if msg := wait(t, outcome, "the handler"); msg != "" {
		t.Fatal(msg)
	}
}

func (g *gate) isOpen() bool {
	select {
	case <-g.ch:
		return true
	default:
		return false
	}
}
