package main

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
)

// waitLimit bounds every wait on a condition; a correct gateway meets each
// long before.
const waitLimit = 10 * time.Second

// logBuffer collects JSON log lines written from any goroutine and lets a
// test wait for a line to appear. Each line is parsed once, as it is
// written, and kept by its msg: a test that waits for lines while requests
// log thousands (no request waits for the log) would otherwise parse the
// whole log again at every write.
type logBuffer struct {
	mu      sync.Mutex
	buf     bytes.Buffer
	parsed  int                         // bytes of buf parsed into byMsg
	byMsg   map[string][]map[string]any // the lines parsed, by msg
	changed chan struct{}               // closed and replaced on every write
}

func newLogBuffer() *logBuffer {
	return &logBuffer{changed: make(chan struct{}), byMsg: map[string][]map[string]any{}}
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.buf.Write(p)
	for {
		rest := b.buf.Bytes()[b.parsed:]
		end := bytes.IndexByte(rest, '\n')
		if end < 0 {
			break
		}
		var m map[string]any
		if json.Unmarshal(rest[:end], &m) == nil {
			if msg, ok := m["msg"].(string); ok {
				b.byMsg[msg] = append(b.byMsg[msg], m)
			}
		}
		b.parsed += end + 1
	}
	close(b.changed)
	b.changed = make(chan struct{})
	return n, err
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// find returns the log lines whose msg is msg, and a channel closed at the
// next write.
func (b *logBuffer) find(msg string) ([]map[string]any, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.byMsg[msg]), b.changed
}

// waitFor waits until n lines of message msg have been logged, and returns
// them.
func (b *logBuffer) waitFor(t *testing.T, msg string, n int) []map[string]any {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		found, changed := b.find(msg)
		if len(found) >= n {
			return found
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("gave up waiting for %d log lines %q; log:\n%s", n, msg, b.String())
		}
	}
}

// newLogger returns a JSON logger writing to a fresh logBuffer.
func newLogger() (*slog.Logger, *logBuffer) {
	buf := newLogBuffer()
	return slog.New(slog.NewJSONHandler(buf, nil)), buf
}

// echoBackend answers every request with its path.
func echoBackend(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// configText returns a configuration serving routes (YAML list items) on
// service svc at backend.
func configText(backend, routes string) string {
	return `listeners: [{address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
shutdown_grace: 5s
registry:
  static:
    - {service: svc, address: "` + backend + `"}
routes:
` + routes
}

func writeFile(t testing.TB, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
}

// loadFile writes text to a new file and loads it.
func loadFile(t testing.TB, text string) (*config.Config, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	writeFile(t, path, text)
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, path
}

// get sends a GET for path through h and returns the answer.
func get(h http.Handler, path string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
	return rec
}
