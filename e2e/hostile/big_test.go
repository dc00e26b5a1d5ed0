package hostile

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
)

// bigAnswer is the size of the answer a client that never reads is sent:
// far more than the socket buffers between backend and client hold.
const bigAnswer = 64 << 20

// bigBackend answers /big/small with a few bytes and anything else with
// bigAnswer bytes, reporting when it has written the first MiB and how its
// writing ended.
type bigBackend struct {
	*httptest.Server
	started chan struct{} // closed once a big answer has 1 MiB written
	ended   chan error    // how a big answer's writing ended (nil: all written)
	once    sync.Once
}

func newBigBackend(t *testing.T) *bigBackend {
	t.Helper()
	b := &bigBackend{started: make(chan struct{}), ended: make(chan error, 4)}
	b.Server = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.Close)
	return b
}

func (b *bigBackend) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Seen", r.RequestURI)
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
