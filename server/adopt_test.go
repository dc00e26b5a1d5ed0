package server

import (
	"io"
	"net/http"
	"testing"
)

// adopter is the method package router looks for on a writer.
type adopter interface{ AdoptHeader(http.Header) bool }

// TestAdoptHeader: a handler's header map becomes the answer's only while
// nothing has asked for the answer's header and no status was given; the
// adopted map is what Header returns and what the client receives, framing
// read from it as from a map the handler filled (its Content-Length).
// Otherwise the answer keeps the map it has.
func TestAdoptHeader(t *testing.T) {
	for _, tc := range []struct {
		name   string
		before func(w http.ResponseWriter) // what the handler does first
		takes  bool
	}{
		{"untouched", func(http.ResponseWriter) {}, true},
		{"after a 103", func(w http.ResponseWriter) { w.WriteHeader(http.StatusEarlyHints) }, true},
		{"header asked for", func(w http.ResponseWriter) { w.Header().Set("X-Edge", "1") }, false},
		{"header asked for, left empty", func(w http.ResponseWriter) { _ = w.Header() }, false},
		{"status given", func(w http.ResponseWriter) { w.WriteHeader(http.StatusAccepted) }, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var took, same bool
			served := make(chan struct{}) // took and same are written
			ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer close(served)
				tc.before(w)
				h := http.Header{"X-Adopted": {"1"}, "Content-Length": {"5"}}
				took = w.(adopter).AdoptHeader(h)
				h2 := w.Header()
				same = len(h2["X-Adopted"]) == 1
				if w.(adopter).AdoptHeader(http.Header{"X-Second": {"1"}}) {
					t.Error("a second map was adopted over the first")
				}
				w.WriteHeader(http.StatusOK) // no effect after a final status
				io.WriteString(w, "hello")
			}))
			resp, err := newClient(t).Get(ts.url("/"))
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			<-served
			if took != tc.takes || same != tc.takes {
				t.Errorf("AdoptHeader %v, Header is the adopted map %v; want %v", took, same, tc.takes)
			}
			if got := resp.Header.Get("X-Adopted") == "1"; got != tc.takes {
				t.Errorf("X-Adopted sent %v, want %v: %v", got, tc.takes, resp.Header)
			}
			if resp.Header.Get("X-Second") != "" {
				t.Error("the second map's field was sent")
			}
			if string(body) != "hello" || tc.takes && resp.ContentLength != 5 {
				t.Errorf("body %q, length %d", body, resp.ContentLength)
			}
		})
	}
}
