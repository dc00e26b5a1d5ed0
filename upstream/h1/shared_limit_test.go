package h1

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestOneConnectionLimitForBothPools checks that MaxConnsPerHost bounds the
// connections to a host whichever path carries the requests: two uploads of
// unknown length (sent by the default Fallback) hold the host's two
// connections, so a GET (sent by this transport itself) waits for one of
// them instead of opening a third, and goes out once an upload ends.
func TestOneConnectionLimitForBothPools(t *testing.T) {
	release := make(chan struct{})
	arrived := make(chan struct{}, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/block" {
			arrived <- struct{}{}
			<-release
		}
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	defer close(release)
	d := &dialer{}
	tr := &Transport{DialContext: d.DialContext, MaxConnsPerHost: 2}
	defer tr.CloseIdleConnections()

	done := make(chan error, 3)
	send := func(req *http.Request) {
		resp, err := tr.RoundTrip(req)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		done <- err
	}
	for range 2 {
		up := mustReq(t, "POST", srv.URL+"/block", "abc")
		up.ContentLength = -1 // unknown length: the Fallback's
		go send(up)
	}
	<-arrived
	<-arrived
	go send(mustReq(t, "GET", srv.URL+"/fast", ""))
	host := strings.TrimPrefix(srv.URL, "http://")
	waitFor(t, "the GET to wait for a connection", func() bool {
		p := tr.pool(host)
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.waiters) == 1
	})
	release <- struct{}{} // one upload ends; its connection closes
	for range 2 {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the GET and the first upload did not end")
		}
	}
	if got := d.maxOpen.Load(); got > 2 {
		t.Fatalf("%d connections open at once, want at most MaxConnsPerHost (2)", got)
	}
}

// TestFallbackKeepsNoPlainConnection checks that a plain-HTTP request the
// default Fallback sends asks the server to close its connection, so that
// every reusable connection to an http node is in this transport's pool.
func TestFallbackKeepsNoPlainConnection(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	}))
	defer srv.Close()
	d := &dialer{}
	tr := &Transport{DialContext: d.DialContext}
	defer tr.CloseIdleConnections()
	up := mustReq(t, "POST", srv.URL+"/", "abc")
	up.ContentLength = -1
	resp, err := tr.RoundTrip(up)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if up.Close {
		t.Fatal("the caller's request was changed")
	}
	p := tr.pool(strings.TrimPrefix(srv.URL, "http://"))
	waitFor(t, "the upload's connection to close and free its slot", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return d.open.Load() == 0 && p.total == 0
	})
}
