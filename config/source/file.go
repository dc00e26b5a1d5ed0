package source

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// DefaultDebounce is how long a FileWatcher waits after the last change in
// the file's directory before it reports one: editors and deploy tools write
// a file in several steps, a few milliseconds apart.
const DefaultDebounce = 200 * time.Millisecond

// MaxDebounces bounds the debounce: a report comes at most MaxDebounces
// debounce periods after the first event of a stream of them, even while
// events keep coming: a file touched (or rewritten) more often than the
// debounce, by a sidecar or a deploy tool in a loop, would otherwise not be
// read again until that stopped, and a change made meanwhile would wait
// as long.
const MaxDebounces = 5

// MaxFileBytes bounds what ReadFile reads, as config.MaxFileBytes bounds a
// configuration file.
const MaxFileBytes = 1 << 20

// ReadFile reads the configuration file at path as a Text.
func ReadFile(path string) (Text, error) {
	f, err := os.Open(path)
	if err != nil {
		return Text{Name: path}, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileBytes+1))
	if err != nil {
		return Text{Name: path}, err
	}
	if len(data) > MaxFileBytes {
		return Text{Name: path}, fmt.Errorf("%s: larger than %d bytes", path, MaxFileBytes)
	}
	return Text{Name: path, Data: data}, nil
}

// FileWatcher reports changes of one file. It watches the file's directory,
// not the file, so that every way of replacing a file is seen:
//
//   - written in place (an event on the file's name);
//   - written to a temporary name and renamed over it, as vim, emacs and
//     most deploy tools do (an event on the file's name, in the directory);
//   - a Kubernetes ConfigMap volume, where the file is a symlink through
//     ..data, and an update swaps ..data to a new directory (events on the
//     names starting with ".." in the directory);
//   - a symlink to a file elsewhere (that file's directory is watched too,
//     and watched again wherever the link points after a change).
//
// Changes come debounced: one report once no event has come for the
// debounce period, or MaxDebounces periods after the first event while
// events keep coming. A report means "may have changed": the caller reads the
// file and compares. The first report comes one debounce period after the
// watch begins (or once the events that follow settle), as if an event had
// come then: a change made before the watch began made no event, and a
// caller that read the file at once instead could catch a write half done
// (an empty file, or a valid prefix of the new one). Create one with
// WatchFile and end it with Close.
type FileWatcher struct {
	path     string
	base     string
	debounce time.Duration
	after    func(time.Duration) <-chan time.Time
	// deadline starts the bound of a stream of events (MaxDebounces); nil
	// bounds none (tests of the debounce alone).
	deadline func(time.Duration) <-chan time.Time
	onError  func(error)

	w       *fsnotify.Watcher
	changes chan struct{}
	done    chan struct{}
	close   sync.Once

	// Only the loop goroutine touches these, after WatchFile returns.
	dirs   map[string]bool
	target string // where path leads, symlinks followed; "" when it leads nowhere
}

// FileOption configures a FileWatcher.
type FileOption func(*FileWatcher)

// WithFileErrorHandler sets a function called, from the watcher's
// goroutine, with the errors fsnotify reports (an overflowed event queue,
// say). It must not block. By default they are dropped. Either way an error
// also brings a report, one debounce period later, as an event does: the
// events lost with it may have been the file's.
func WithFileErrorHandler(f func(error)) FileOption { return func(w *FileWatcher) { w.onError = f } }

// withAfter replaces the debounce timer, for tests.
func withAfter(after func(time.Duration) <-chan time.Time) FileOption {
	return func(w *FileWatcher) { w.after = after }
}

// WatchFile starts watching the file at path. A debounce of zero or less
// means DefaultDebounce. The file need not exist yet, but its directory
// must.
func WatchFile(path string, debounce time.Duration, opts ...FileOption) (*FileWatcher, error) {
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	fw := &FileWatcher{path: abs, base: filepath.Base(abs), debounce: debounce, after: time.After, deadline: time.After,
		onError: func(error) {}, changes: make(chan struct{}, 1), done: make(chan struct{}), dirs: map[string]bool{}}
	for _, o := range opts {
		o(fw)
	}
	if fw.w, err = fsnotify.NewWatcher(); err != nil {
		return nil, fmt.Errorf("watching %s: %w", path, err)
	}
	if err := fw.w.Add(filepath.Dir(abs)); err != nil {
		fw.w.Close()
		return nil, fmt.Errorf("watching %s: %w", path, err)
	}
	fw.dirs[filepath.Dir(abs)] = true
	fw.follow()
	go fw.loop(fw.w.Events, fw.w.Errors)
	return fw, nil
}

// Changes returns the channel on which a value arrives after the file may
// have changed. It holds at most one: reports made while the caller was
// busy are merged.
func (fw *FileWatcher) Changes() <-chan struct{} { return fw.changes }

// Close stops watching and waits for the watcher's goroutine to end.
func (fw *FileWatcher) Close() error {
	var err error
	fw.close.Do(func() {
		err = fw.w.Close()
		<-fw.done
	})
	return err
}

// loop turns the events into debounced reports until events closes.
func (fw *FileWatcher) loop(events <-chan fsnotify.Event, errs <-chan error) {
	defer close(fw.done)
	timer := fw.after(fw.debounce) // the first report: see FileWatcher
	var bound <-chan time.Time     // MaxDebounces after the stream's first event
	wait := func() {
		timer = fw.after(fw.debounce) // a later event restarts the wait
		if bound == nil && fw.deadline != nil {
			bound = fw.deadline(MaxDebounces * fw.debounce) // but not beyond this
		}
	}
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return
			}
			if fw.relevant(ev.Name) {
				wait()
			}
		case err, ok := <-errs:
			if !ok {
				return
			}
			// Events may have been lost (an overflowed queue), the
			// file's among them: read it again, as after an event.
			wait()
			fw.onError(err)
		case <-timer:
			fw.report()
			timer, bound = nil, nil
		case <-bound:
			fw.report()
			timer, bound = nil, nil
		}
	}
}

// report follows path again and sends a report, unless one is pending.
func (fw *FileWatcher) report() {
	fw.follow()
	select {
	case fw.changes <- struct{}{}:
	default: // one is pending already
	}
}

// relevant says whether an event on name may change what path reads.
func (fw *FileWatcher) relevant(name string) bool {
	name = filepath.Clean(name)
	base := filepath.Base(name)
	return base == fw.base || strings.HasPrefix(base, "..") || (fw.target != "" && name == fw.target)
}

// follow finds where path leads now and watches that file's directory too.
func (fw *FileWatcher) follow() {
	target, err := filepath.EvalSymlinks(fw.path)
	if err != nil {
		fw.target = ""
		return
	}
	if target, err = filepath.Abs(target); err != nil {
		return
	}
	fw.target = target
	dir := filepath.Dir(target)
	if fw.dirs[dir] {
		return
	}
	// The directory the link led to before (a ConfigMap's old ..2026_…
	// directory, removed by now) is watched no more.
	for old := range fw.dirs {
		if old != filepath.Dir(fw.path) {
			_ = fw.w.Remove(old)
			delete(fw.dirs, old)
		}
	}
	if err := fw.w.Add(dir); err != nil {
		fw.onError(fmt.Errorf("watching %s: %w", dir, err))
		return
	}
	fw.dirs[dir] = true
}
