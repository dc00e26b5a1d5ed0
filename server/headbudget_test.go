package server

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestSlowLargeHeadsAreBounded: clients that each send a large request
// head (past the reader's 4 KiB) and never end it hold no more than the
// Server's budget of large heads (LargeHeadBytes); past it, a large head
// is answered 431 while small ones are served, and the room comes back as
// the heads end. Before, each such client held its head's memory until
// ReadHeaderTimeout, however many they were.
func TestSlowLargeHeadsAreBounded(t *testing.T) {
	const maxHeader = 8 << 10
	perHead := int64(maxHeader + headerSlop)
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {})
	ts := startServer(t, ok, func(s *Server) {
		s.MaxHeaderBytes = maxHeader
		s.LargeHeadBytes = 2 * perHead
	})
	large := "GET / HTTP/1.1\r\nHost: x\r\nX-Large: " + strings.Repeat("a", 6000)
	held := func() int64 {
		if b := ts.heads.Load(); b != nil {
			return b.Held()
		}
		return 0
	}
	waitHeld := func(want int64) {
		t.Helper()
		deadline := time.Now().Add(waitLimit)
		for held() != want {
			if time.Now().After(deadline) {
				t.Fatalf("the large heads hold %d bytes, want %d", held(), want)
			}
			time.Sleep(time.Millisecond) // polling the server's state
		}
	}
	a, b := dialRaw(t, ts.addr), dialRaw(t, ts.addr)
	a.send(large)
	b.send(large)
	waitHeld(2 * perHead)

	c := dialRaw(t, ts.addr)
	c.send(large + "\r\n\r\n")
	if r := c.read("GET"); r.status != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("a large head past the budget: %d, want 431", r.status)
	}
	small := dialRaw(t, ts.addr)
	small.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if r := small.read("GET"); r.status != http.StatusOK {
		t.Fatalf("a small head with the budget spent: %d, want 200", r.status)
	}

	a.send("\r\n\r\n")
	if r := a.read("GET"); r.status != http.StatusOK {
		t.Fatalf("a large head within the budget: %d, want 200", r.status)
	}
	waitHeld(perHead)
	d := dialRaw(t, ts.addr)
	d.send(large + "\r\n\r\n")
	if r := d.read("GET"); r.status != http.StatusOK {
		t.Fatalf("a large head once room came back: %d, want 200", r.status)
	}
	b.c.Close()
	waitHeld(0)
}
