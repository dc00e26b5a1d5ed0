package upstream

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/registry"
)

// TestAnUploadIsNoQueue: while a client's upload is still coming, its
// attempt does not count as waiting on the node, and the round trip the
// limit learns starts when the body ended: 10 s of upload (on the client's
// clock) before a node that then answers at once teach a round trip of
// none, not of 10 s (limit_upload.go).
func TestAnUploadIsNoQueue(t *testing.T) {
	started := make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var first [1]byte
		if _, err := io.ReadFull(r.Body, first[:]); err != nil {
			t.Errorf("reading the upload: %v", err)
			return
		}
		close(started)
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	defer backend.Close()
	var mu sync.Mutex
	now := time.Now() // the transport's deadlines are on the real clock
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	node, limits, c := limitedClient(t, backend.URL, LimitSettings{Now: clock, Lag: noLag}, WithClock(clock))
	body, upload := io.Pipe()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	r, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://svc/upload", body)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		resp, err := c.Do(r)
		if err == nil {
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		done <- err
	}()
	if _, err := upload.Write([]byte("the first bytes")); err != nil {
		t.Fatal(err)
	}
	<-started
	if got := limits.get(node).waiting.Load(); got != 0 {
		t.Errorf("an attempt still uploading counts %d waiting on its node, want 0", got)
	}
	mu.Lock()
	now = now.Add(10 * time.Second) // the rest of the upload takes 10 s
	mu.Unlock()
	upload.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	nl := limits.get(node)
	if got := nl.waiting.Load(); got != 0 {
		t.Errorf("after the call, %d waiting, want 0", got)
	}
	nl.mu.Lock()
	learnt := time.Duration(nl.curMin)
	nl.mu.Unlock()
	if learnt != 0 {
		t.Errorf("the limit learnt a round trip of %s from an upload of 10 s to a node answering at once, want 0", learnt)
	}
}

// TestASentBodyWaits: a request whose body is all sent (one of a known
// length, as most are, which the transport reads to its end) counts as
// waiting on its node until its answer comes, as one without a body does.
func TestASentBodyWaits(t *testing.T) {
	entered, release := make(chan struct{}), make(chan struct{})
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		entered <- struct{}{}
		<-release
		io.WriteString(w, "ok")
	}))
	defer backend.Close()
	node, limits, c := limitedClient(t, backend.URL, LimitSettings{Lag: noLag})
	for _, method := range []string{http.MethodPost, http.MethodGet} {
		var body io.Reader
		if method == http.MethodPost {
			body = strings.NewReader(`{"order":42}`)
		}
		r, err := http.NewRequest(method, "http://svc/orders", body)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			resp, err := c.Do(r)
			if err == nil {
				resp.Body.Close()
			}
			done <- err
		}()
		<-entered
		if got := limits.get(node).waiting.Load(); got != 1 {
			t.Errorf("%s: the node has the request and has not answered: %d waiting, want 1", method, got)
		}
		release <- struct{}{}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := limits.get(node).waiting.Load(); got != 0 {
			t.Errorf("%s: answered: %d waiting, want 0", method, got)
		}
	}
}

// limitedClient returns a client of the one node at url (service "svc"),
// with limits of settings s and the options opts, and the node and limits.
func limitedClient(t *testing.T, url string, s LimitSettings, opts ...Option) (*registry.Node, *Limits, *Client) {
	t.Helper()
	node := &registry.Node{Service: "svc", ID: "n", Address: strings.TrimPrefix(url, "http://")}
	reg, err := registry.NewStatic(node)
	if err != nil {
		t.Fatal(err)
	}
	limits := NewLimits(s)
	return node, limits, New(reg, append([]Option{WithLimits(limits)}, opts...)...)
}
