package source

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/fsnotify/fsnotify"
)

// TestAFileTouchedWithoutPauseIsStillRead: events on the file that never
// pause for the debounce period (a sidecar touching or rewriting it 1000
// times a second) bring a report MaxDebounces periods after the first of
// them, and again after the next MaxDebounces, while they go on. Before,
// every event restarted the wait and nothing was reported until the
// stream stopped: measured with the real watcher, a file changed and then
// touched every millisecond for 5 s was read 5.2 s later, and never while
// the touches went on.
func TestAFileTouchedWithoutPauseIsStillRead(t *testing.T) {
	dir := t.TempDir()
	events := make(chan fsnotify.Event)
	timers, bounds := make(chan chan time.Time, 1000), make(chan chan time.Time, 10)
	fake := func(c chan chan time.Time) func(time.Duration) <-chan time.Time {
		return func(time.Duration) <-chan time.Time {
			t := make(chan time.Time, 1)
			c <- t
			return t
		}
	}
	fw := &FileWatcher{path: filepath.Join(dir, "gateway.yaml"), base: "gateway.yaml", debounce: time.Second,
		after: fake(timers), deadline: fake(bounds), onError: func(error) {}, changes: make(chan struct{}, 1),
		done: make(chan struct{}), dirs: map[string]bool{dir: true}}
	go fw.loop(events, nil)
	t.Cleanup(func() { close(events); <-fw.done })
	touch := func() {
		events <- fsnotify.Event{Name: filepath.Join(dir, "gateway.yaml"), Op: fsnotify.Chmod}
	}
	for round := range 2 {
		touch()
		touch() // taken once the first is handled in full
		var bound chan time.Time
		select {
		case bound = <-bounds:
		default:
			t.Fatalf("round %d: the first event of a stream bounded no wait", round+1)
		}
		for range 100 { // the debounce timers never fire: the stream never pauses
			touch()
		}
		touch() // the 100 handled in full
		select {
		case <-bounds:
			t.Fatalf("round %d: a later event of the stream moved the bound", round+1)
		default:
		}
		select {
		case <-fw.Changes():
			t.Fatalf("round %d: a report before the bound", round+1)
		default:
		}
		bound <- time.Now()
		select {
		case <-fw.Changes():
		case <-time.After(waitLimit):
			t.Fatalf("round %d: no report at the bound while events kept coming", round+1)
		}
	}
}

// TestAChangeUnderATouchStormIsRead: with the real watcher and the default
// debounce, a file changed and then touched every millisecond, without
// end, is read while the touches go on (MaxDebounces × 200 ms after the
// change).
func TestAChangeUnderATouchStormIsRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	write(t, path, "one")
	fw, err := WatchFile(path, DefaultDebounce)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fw.Close() })
	<-fw.Changes() // the report every watch begins with
	stop, stopped := make(chan struct{}), make(chan struct{})
	defer func() { close(stop); <-stopped }()
	write(t, path, "two")
	go func() {
		defer close(stopped)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case now := <-tick.C:
				_ = os.Chtimes(path, now, now)
			}
		}
	}()
	waitChange(t, fw, path, "two")
}
