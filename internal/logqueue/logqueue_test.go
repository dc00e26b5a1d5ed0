package logqueue

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// stalled is an output whose writes wait until release is closed, then go
// to buf.
type stalled struct {
	release chan struct{}
	entered chan struct{} // closed at the first write
	once    sync.Once
	mu      sync.Mutex
	buf     bytes.Buffer
}

func newStalled() *stalled {
	return &stalled{release: make(chan struct{}), entered: make(chan struct{})}
}

func (s *stalled) Write(p []byte) (int, error) {
	s.once.Do(func() { close(s.entered) })
	<-s.release
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(p)
}

func (s *stalled) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func notice(n uint64) []byte { return fmt.Appendf(nil, "dropped %d\n", n) }

// While its output stalls, a Writer takes every write without waiting,
// keeps at most its bound, and drops the rest; once the output moves, the
// lines it kept come out whole and in order, followed by a line that
// counts the ones it dropped.
func TestAStalledOutputNeverBlocksAWrite(t *testing.T) {
	out := newStalled()
	const max, lines = 4096, 1000
	w := New(out, max, 0, notice)
	line := func(i int) string { return fmt.Sprintf("line %04d %s\n", i, strings.Repeat("x", 80)) }
	if _, err := w.Write([]byte(line(0))); err != nil {
		t.Fatal(err)
	}
	<-out.entered // the goroutine holds line 0 and waits on the output
	for i := 1; i < lines; i++ {
		if n, err := w.Write([]byte(line(i))); n != len(line(i)) || err != nil {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	dropped := w.Dropped()
	if kept := lines - 1 - int(dropped); kept*len(line(0)) > max || dropped == 0 {
		t.Fatalf("%d writes dropped, %d kept of %d bytes each: want the queue full at %d bytes and the rest dropped",
			dropped, kept, len(line(0)), max)
	}
	close(out.release)
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := strings.SplitAfter(out.String(), "\n")
	got = got[:len(got)-1] // after the last newline
	kept := lines - int(dropped)
	if len(got) != kept+1 {
		t.Fatalf("%d lines written out, want the %d kept and a notice", len(got), kept)
	}
	for i := 0; i < kept; i++ {
		if got[i] != line(i) {
			t.Fatalf("line %d is %q, want %q", i, got[i], line(i))
		}
	}
	if want := "dropped " + strconv.FormatUint(dropped, 10) + "\n"; got[kept] != want {
		t.Errorf("last line %q, want %q", got[kept], want)
	}
}

// While the queue is full of ordinary lines, a Priority line still goes
// in, until the queue holds twice the bound; all drops are counted as one.
func TestAPriorityLineOutlastsAFullQueue(t *testing.T) {
	out := newStalled()
	w := New(out, 100, 0, notice)
	_, _ = w.Write([]byte("first\n"))
	<-out.entered
	fill := []byte(strings.Repeat("f", 99) + "\n") // the whole bound
	_, _ = w.Write(fill)
	_, _ = w.Write([]byte("dropped\n"))
	_, _ = w.Priority().Write([]byte("kept\n"))
	_, _ = w.Priority().Write(fill) // past twice the bound
	close(out.release)
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if want := "first\n" + string(fill) + "kept\ndropped 2\n"; out.String() != want {
		t.Errorf("written out %q, want %q", out.String(), want)
	}
	if w.Dropped() != 2 {
		t.Errorf("Dropped() = %d, want 2", w.Dropped())
	}
}

// A write larger than the whole bound is dropped and counted, and those
// after it pass.
func TestAWriteLargerThanTheBoundIsDropped(t *testing.T) {
	out := newStalled()
	close(out.release) // an output that moves
	w := New(out, 64, 0, notice)
	_, _ = w.Write([]byte(strings.Repeat("y", 65) + "\n"))
	_, _ = w.Write([]byte("small\n"))
	if err := w.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "dropped 1\nsmall\n" && got != "small\ndropped 1\n" {
		t.Errorf("written out %q, want the small line and a notice of one drop", got)
	}
	if w.Dropped() != 1 {
		t.Errorf("Dropped() = %d, want 1", w.Dropped())
	}
}

// Close on an output that never takes its writes returns when its context
// ends, with the context's error; writes after Close are dropped.
func TestCloseOnAStalledOutputEndsWithItsContext(t *testing.T) {
	out := newStalled()
	defer close(out.release)
	w := New(out, 1024, 0, nil)
	_, _ = w.Write([]byte("held\n"))
	<-out.entered
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := w.Close(ctx); err != context.Canceled {
		t.Errorf("Close = %v, want %v", err, context.Canceled)
	}
	_, _ = w.Write([]byte("late\n"))
	if w.Dropped() != 1 {
		t.Errorf("Dropped() = %d after a write past Close, want 1", w.Dropped())
	}
}
