package source

import (
	"github.com/fsnotify/fsnotify"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// waitLimit bounds every wait for an event; the watcher meets it long before.
const waitLimit = 10 * time.Second

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// waitChange waits for reports from fw until the file reads want (a write
// in place can be reported between its truncation and its bytes).
func waitChange(t *testing.T, fw *FileWatcher, path, want string) {
	t.Helper()
	deadline := time.After(waitLimit)
	for {
		select {
		case <-fw.Changes():
		case <-deadline:
			t.Fatalf("no change to %q reported within %s", want, waitLimit)
		}
		text, err := ReadFile(path)
		if err == nil && string(text.Data) == want {
			return
		}
	}
}

func watch(t *testing.T, path string, opts ...FileOption) *FileWatcher {
	t.Helper()
	fw, err := WatchFile(path, 10*time.Millisecond, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fw.Close() })
	return fw
}

func TestFileWatcherSeesEveryWayOfReplacingAFile(t *testing.T) {
	t.Run("written in place", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "gateway.yaml")
		write(t, path, "one")
		fw := watch(t, path)
		write(t, path, "two")
		waitChange(t, fw, path, "two")
	})
	t.Run("renamed over it, as editors do", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "gateway.yaml")
		write(t, path, "one")
		fw := watch(t, path)
		tmp := filepath.Join(dir, ".gateway.yaml.swp")
		write(t, tmp, "two")
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
		waitChange(t, fw, path, "two")
		// The watch survives the replacement: the new file is watched too.
		write(t, path, "three")
		waitChange(t, fw, path, "three")
	})
	t.Run("a Kubernetes ConfigMap's symlink swap", func(t *testing.T) {
		dir := t.TempDir()
		// What the kubelet lays out: gateway.yaml -> ..data/gateway.yaml,
		// ..data -> ..2026_1; an update writes ..2026_2, points ..data_tmp
		// at it, renames ..data_tmp over ..data and removes ..2026_1.
		mkVersion := func(name, text string) {
			if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(dir, name, "gateway.yaml"), text)
		}
		mkVersion("..2026_1", "one")
		if err := os.Symlink("..2026_1", filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "gateway.yaml")
		if err := os.Symlink(filepath.Join("..data", "gateway.yaml"), path); err != nil {
			t.Fatal(err)
		}
		fw := watch(t, path)
		for i, next := range []string{"..2026_2", "..2026_3"} {
			text := []string{"two", "three"}[i]
			mkVersion(next, text)
			if err := os.Symlink(next, filepath.Join(dir, "..data_tmp")); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
				t.Fatal(err)
			}
			prev := []string{"..2026_1", "..2026_2"}[i]
			if err := os.RemoveAll(filepath.Join(dir, prev)); err != nil {
				t.Fatal(err)
			}
			waitChange(t, fw, path, text)
		}
	})
	t.Run("a symlink to a file elsewhere, edited there", func(t *testing.T) {
		elsewhere := filepath.Join(t.TempDir(), "real.yaml")
		write(t, elsewhere, "one")
		path := filepath.Join(t.TempDir(), "gateway.yaml")
		if err := os.Symlink(elsewhere, path); err != nil {
			t.Fatal(err)
		}
		fw := watch(t, path)
		write(t, elsewhere, "two")
		waitChange(t, fw, path, "two")
	})
}

// fakeLoop runs the loop of a watcher of dir/gateway.yaml on events the
// test sends, with debounce timers the test fires.
type fakeLoop struct {
	fw     *FileWatcher
	dir    string
	events chan fsnotify.Event
	timers chan chan time.Time
	begun  chan time.Time // the timer of the first report, started as the loop begins
}

func newFakeLoop(t *testing.T) *fakeLoop {
	dir := t.TempDir()
	l := &fakeLoop{dir: dir, events: make(chan fsnotify.Event), timers: make(chan chan time.Time, 10)}
	path := filepath.Join(dir, "gateway.yaml")
	l.fw = &FileWatcher{path: path, base: "gateway.yaml", debounce: time.Second, onError: func(error) {},
		changes: make(chan struct{}, 1), done: make(chan struct{}), dirs: map[string]bool{dir: true}}
	l.fw.after = func(time.Duration) <-chan time.Time {
		c := make(chan time.Time, 1)
		l.timers <- c
		return c
	}
	go l.fw.loop(l.events, nil)
	t.Cleanup(func() { close(l.events); <-l.fw.done })
	select {
	case l.begun = <-l.timers:
	case <-time.After(waitLimit):
		t.Fatal("the watch began with no wait for its first report")
	}
	return l
}

// event hands the loop an event on name; it returns once the loop has
// taken it, so the previous one has been handled in full.
func (l *fakeLoop) event(name string) {
	l.events <- fsnotify.Event{Name: filepath.Join(l.dir, name), Op: fsnotify.Write}
}

// timer returns the debounce timer the last event started, or nil.
func (l *fakeLoop) timer() chan time.Time {
	select {
	case c := <-l.timers:
		return c
	default:
		return nil
	}
}

// TestFileWatcherReportsOnceAfterItBegins: with no event, one report
// comes a debounce period after the watch began (a change made before it
// made no event); an event before then restarts that wait, as any does.
func TestFileWatcherReportsOnceAfterItBegins(t *testing.T) {
	l := newFakeLoop(t)
	l.begun <- time.Now()
	select {
	case <-l.fw.Changes():
	case <-time.After(waitLimit):
		t.Fatal("no report a debounce period after the watch began")
	}
	l = newFakeLoop(t)
	l.event("gateway.yaml") // a write begun as the watch began
	l.event("other.yaml")
	next := l.timer()
	l.begun <- time.Now() // replaced: reports nothing
	l.event("other.yaml")
	select {
	case <-l.fw.Changes():
		t.Fatal("a report while the write's events were still coming")
	default:
	}
	next <- time.Now()
	select {
	case <-l.fw.Changes():
	case <-time.After(waitLimit):
		t.Fatal("no report once the write's events settled")
	}
}

func TestFileWatcherIgnoresOtherFiles(t *testing.T) {
	l := newFakeLoop(t)
	l.event("other.yaml")
	l.event("gateway.yaml~") // an editor's backup
	l.event("gateway.yaml")
	l.event("other.yaml") // taken: the one before is handled
	first := l.timer()
	if first == nil {
		t.Fatal("an event on the file started no debounce")
	}
	if l.timer() != nil {
		t.Error("an event on another file started a debounce")
	}
	l.event("..data") // a ConfigMap swap
	l.event("other.yaml")
	if l.timer() == nil {
		t.Error("a ConfigMap swap started no debounce")
	}
}

func TestFileWatcherDebounces(t *testing.T) {
	l := newFakeLoop(t)
	l.event("gateway.yaml")
	l.event("other.yaml")
	first := l.timer()
	l.event("gateway.yaml") // restarts the wait
	l.event("other.yaml")
	second := l.timer()
	if first == nil || second == nil {
		t.Fatal("the events started no debounce")
	}
	first <- time.Now() // replaced: reports nothing
	l.event("other.yaml")
	select {
	case <-l.fw.Changes():
		t.Fatal("a replaced wait reported a change")
	default:
	}
	second <- time.Now()
	select {
	case <-l.fw.Changes():
	case <-time.After(waitLimit):
		t.Fatal("the last wait ending reported no change")
	}
	l.event("other.yaml")
	select {
	case <-l.fw.Changes():
		t.Error("two reports for one burst of events")
	default:
	}
}
