package source

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// TestFileWatcherRereadsAfterLostEvents: when the kernel's event queue
// overflows (fsnotify.ErrEventOverflow), events were dropped, the file's
// among them maybe: the watcher reports a change, one debounce period
// later, so that the caller reads the file again. Before, the error went
// to the handler alone and a change lost with the events was never seen
// until the next one.
func TestFileWatcherRereadsAfterLostEvents(t *testing.T) {
	dir := t.TempDir()
	events, errs := make(chan fsnotify.Event), make(chan error)
	timers := make(chan chan time.Time, 10)
	handled := make(chan error, 10)
	fw := &FileWatcher{path: filepath.Join(dir, "gateway.yaml"), base: "gateway.yaml", debounce: time.Second,
		onError: func(err error) { handled <- err }, changes: make(chan struct{}, 1), done: make(chan struct{}),
		dirs: map[string]bool{dir: true}}
	fw.after = func(time.Duration) <-chan time.Time {
		c := make(chan time.Time, 1)
		timers <- c
		return c
	}
	go fw.loop(events, errs)
	t.Cleanup(func() { close(events); <-fw.done })
	first := <-timers
	first <- time.Now() // the report every watch begins with
	select {
	case <-fw.Changes():
	case <-time.After(waitLimit):
		t.Fatal("no first report")
	}

	errs <- fsnotify.ErrEventOverflow
	if err := <-handled; !errors.Is(err, fsnotify.ErrEventOverflow) {
		t.Errorf("the handler got %v, want the overflow", err)
	}
	var wait chan time.Time
	select {
	case wait = <-timers:
	default:
		t.Fatal("an overflow started no wait: a change lost with the events is never read")
	}
	wait <- time.Now()
	select {
	case <-fw.Changes():
	case <-time.After(waitLimit):
		t.Fatal("no report after the overflow")
	}
}
