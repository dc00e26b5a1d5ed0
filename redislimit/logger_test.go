package redislimit

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe for the pool's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestGoRedisMessagesGoToTheLogger: a dial that fails is reported through
// the Store's logger, as a structured debug line, not printed by go-redis
// on standard error.
func TestGoRedisMessagesGoToTheLogger(t *testing.T) {
	var buf lockedBuffer
	logger := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := New(Options{Addr: "127.0.0.1:1", Logger: logger, Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := s.Allow(context.Background(), "k", 1, 1); err == nil {
		t.Fatal("a decision against nothing listening succeeded")
	}
	if out := buf.String(); !strings.Contains(out, `"level":"DEBUG"`) || !strings.Contains(out, `redis: `) {
		t.Fatalf("the logger got %q, want go-redis's dial failure at debug level", out)
	}
}
