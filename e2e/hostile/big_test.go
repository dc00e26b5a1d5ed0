package hostile

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"
)

// bigAnswer is the size of the answer a client that never reads is sent:
// far more than the socket buffers between backend and client hold.
const bigAnswer = 64 << 20

// bigBackend answers /big/small with a few bytes, a POST with
// unreadAnswer bytes without reading its body, and anything else with
// bigAnswer bytes, reporting when it has written the first MiB and how its
// writing ended.
type bigBackend struct {
	*httptest.Server
	started chan struct{} // closed once a big answer has 1 MiB written
	ended   chan error    // how a big answer's writing ended (nil: all written)
	once    sync.Once
	release chan struct{} // closed when a POST's handler may return
}

func newBigBackend(t *testing.T) *bigBackend {
	t.Helper()
	b := &bigBackend{started: make(chan struct{}), ended: make(chan error, 4), release: make(chan struct{})}
	b.Server = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.Close)
	t.Cleanup(func() { close(b.release) })
	return b
}

// unreadAnswer is the size of the answer to a POST, whose body the backend
// does not read: more than the socket buffers of a slow client hold.
const unreadAnswer = 4 << 20

func (b *bigBackend) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Seen", r.RequestURI)
	if r.Method == http.MethodPost {
		w.Header().Set("Content-Length", strconv.Itoa(unreadAnswer))
		_, _ = w.Write(make([]byte, unreadAnswer))
		// Held until the case is done: returning would make net/http
		// close the connection on the unread body after its half
		// second, and the reset would cut the answer on the gateway's
		// side, which is not what the case is about.
		select {
		case <-b.release:
		case <-time.After(hangLimit):
		}
		return
	}
	if r.URL.Path == "/big/small" {
		_, _ = w.Write([]byte("small"))
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(bigAnswer))
	buf := make([]byte, 32<<10)
	var err error
	for written := 0; written < bigAnswer && err == nil; written += len(buf) {
		_, err = w.Write(buf)
		if written >= 1<<20 {
			b.once.Do(func() { close(b.started) })
		}
	}
	b.ended <- err
}
