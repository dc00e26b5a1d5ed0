package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config/source"
)

// The tests of this file change a running gateway's configuration file as
// operators and their tools do, and hold that each change either serves
// or is refused, at its file:line:column when it has one, while the
// running routes keep answering.

const reloadFailed = "configuration reload failed; the running configuration keeps serving"

// waitRefusal waits for a refusal logged of the text whose hash is hash
// ("" for a source that could not be read) with an error holding part,
// and returns its error.
func (g *runningGateway) waitRefusal(hash, part string) string {
	g.t.Helper()
	deadline := time.After(waitLimit)
	for {
		found, changed := g.logs.find(reloadFailed)
		for _, l := range found {
			if msg, _ := l["error"].(string); l["hash"] == hash && strings.Contains(msg, part) {
				return msg
			}
		}
		select {
		case <-changed:
		case <-deadline:
			g.t.Fatalf("no refusal of %q holding %q logged; log:\n%.20000s", hash, part, g.logs.String())
		}
	}
}

// waitServes waits until the configuration whose text is text serves.
func (g *runningGateway) waitServes(text string) {
	g.t.Helper()
	deadline := time.After(waitLimit)
	want := sha(text)
	for {
		found, changed := g.logs.find("configuration reloaded")
		for _, l := range found {
			if l["hash"] == want {
				return
			}
		}
		select {
		case <-changed:
		case <-deadline:
			g.t.Fatalf("the version %s was not applied; log:\n%s", want, g.logs.String())
		}
	}
}

func sha(text string) string { return source.Hash([]byte(text)) }

// newClient returns a client of its own connections, closed when the test
// ends.
func newClient(t *testing.T) *http.Client {
	c := &http.Client{Transport: &http.Transport{}}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// serves checks that path answers 200 with its own path (echoBackend).
func (g *runningGateway) serves(path string) {
	g.t.Helper()
	if code, body := g.fetch(g.front + path); code != 200 || body != path {
		g.t.Errorf("%s = %d %q, want 200 %q", path, code, body, path)
	}
}

// TestABadReloadKeepsServing refuses bad versions of every kind, each at
// its place in the file, reports each in the log and in /admin/config,
// keeps serving the routes that served, and applies the good version that
// comes after them.
func TestABadReloadKeepsServing(t *testing.T) {
	backend := echoBackend(t)
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	v1 := configText(backend, "  - {path: /v1, service: svc}\n")
	writeFile(t, path, v1)
	g := runGateway(t, "-config", path)
	g.serves("/v1")

	var laughs strings.Builder
	laughs.WriteString(configText(backend, "  - {path: /v1, service: svc}\n"))
	// 200 aliases of a value written as 100 kB of $$: 10 MB once expanded.
	laughs.WriteString("trusted_proxies:\n  - &l0 \"" + strings.Repeat("$$", 50_000) + "\"\n")
	for range 200 {
		laughs.WriteString("  - *l0\n")
	}
	at := regexp.QuoteMeta(path) + `:\d+:\d+: `
	for _, tt := range []struct {
		name, text, want string
	}{
		{"a YAML syntax error", v1 + "  - {path: /v2, service: svc\n", at + "YAML syntax"},
		{"a type error", v1 + "  - {path: /v2, service: svc, budget: {timeout: [1s]}}\n", at + `routes\[1\]\.budget\.timeout: expected a duration`},
		{"an unknown field", v1 + "  - {path: /v2, service: svc, retries: 3}\n", at + `routes\[1\]: unknown field "retries"`},
		{"a duplicate key", v1 + "  - {path: /v2, service: svc, path: /v3}\n", at + `routes\[1\]: duplicate field "path"`},
		{"an unknown service", v1 + "  - {path: /v2, service: nobody}\n", at + `routes\[1\]\.service: .*nobody`},
		{"a bad regular expression", v1 + "  - {path: \"/v2/{id:[0-9+}\", service: svc}\n", at + `routes\[1\]\.path: .*invalid regexp`},
		{"a bad duration", v1 + "  - {path: /v2, service: svc, budget: {timeout: 5}}\n", at + `routes\[1\]\.budget\.timeout: duration "5" has no unit`},
		{"an alias bomb", laughs.String(), at + `trusted_proxies\[\d+\]: the file expands to more than`},
		{"an empty file", "", regexp.QuoteMeta(path) + ": the file is empty"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			g.t = t
			replaceFile(t, path, tt.text)
			msg := g.waitRefusal(sha(tt.text), path)
			if !regexp.MustCompile("^" + tt.want).MatchString(msg) {
				t.Errorf("refused with %.300q, want %s", msg, tt.want)
			}
			g.serves("/v1")
			c := g.config()
			if c.Applied.Hash != sha(v1) || c.Refused == nil || c.Refused.Error != msg || c.Refused.Hash != sha(tt.text) {
				t.Errorf("/admin/config = %+v, want v1 serving and the refusal", c)
			}
		})
	}
	g.t = t

	// A file too large to read: refused unread past the bound (a sparse
	// file of 100 MB takes no disk).
	t.Run("a file of 100 MB", func(t *testing.T) {
		g.t = t
		tmp := path + ".big"
		writeFile(t, tmp, v1)
		if err := os.Truncate(tmp, 100<<20); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
		g.waitRefusal("", "larger than")
		g.serves("/v1")
	})
	g.t = t

	// A directory where the file was.
	t.Run("a directory", func(t *testing.T) {
		g.t = t
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(path, 0o755); err != nil {
			t.Fatal(err)
		}
		g.waitRefusal("", "is a directory")
		g.serves("/v1")
		if c := g.config(); c.Refused == nil || !strings.Contains(c.Refused.Error, "is a directory") {
			t.Errorf("/admin/config = %+v, want the read error", c)
		}
		if err := os.Remove(path); err != nil {
			t.Fatal(err)
		}
	})
	g.t = t

	// After all that, a good version serves.
	v2 := configText(backend, "  - {path: /v1, service: svc}\n  - {path: /v2, service: svc}\n")
	replaceFile(t, path, v2)
	g.waitServes(v2)
	g.serves("/v1")
	g.serves("/v2")
	if c := g.config(); c.Applied.Hash != sha(v2) || c.Refused != nil {
		t.Errorf("/admin/config after the good version = %+v", c)
	}
}

// TestConfigMapUpdatesReload: a Kubernetes ConfigMap volume, the file a
// symlink through ..data to a timestamped directory, updated three times as
// the kubelet does (a new directory, ..data swapped to it by a rename, the
// old directory removed): each version serves.
func TestConfigMapUpdatesReload(t *testing.T) {
	backend := echoBackend(t)
	dir := t.TempDir()
	version := func(name, text string) {
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		writeFile(t, filepath.Join(dir, name, "gateway.yaml"), text)
	}
	text := func(i int) string { return configText(backend, fmt.Sprintf("  - {path: /v%d, service: svc}\n", i)) }
	version("..2026_12_05_00_00_00.000000001", text(1))
	if err := os.Symlink("..2026_12_05_00_00_00.000000001", filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "gateway.yaml")
	if err := os.Symlink(filepath.Join("..data", "gateway.yaml"), path); err != nil {
		t.Fatal(err)
	}
	g := runGateway(t, "-config", path)
	g.serves("/v1")
	for i := 2; i <= 4; i++ {
		next := fmt.Sprintf("..2026_12_05_00_00_00.00000000%d", i)
		prev := fmt.Sprintf("..2026_12_05_00_00_00.00000000%d", i-1)
		version(next, text(i))
		tmp := filepath.Join(dir, "..data_tmp")
		if err := os.Symlink(next, tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
		if err := os.RemoveAll(filepath.Join(dir, prev)); err != nil {
			t.Fatal(err)
		}
		g.waitServes(text(i))
		g.serves(fmt.Sprintf("/v%d", i))
	}
}

// TestInPlaceWritesAndRecreation: a file truncated then written (as shell
// redirection and many tools do), and a file deleted then created again.
// The empty file and the missing one are refused and the routes keep
// serving; the version written next serves.
func TestInPlaceWritesAndRecreation(t *testing.T) {
	backend := echoBackend(t)
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	v1 := configText(backend, "  - {path: /v1, service: svc}\n")
	writeFile(t, path, v1)
	g := runGateway(t, "-config", path)

	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	g.waitRefusal(sha(""), "the file is empty")
	g.serves("/v1")
	v2 := configText(backend, "  - {path: /v2, service: svc}\n")
	writeFile(t, path, v2) // in place: O_TRUNC, then the bytes
	g.waitServes(v2)
	g.serves("/v2")

	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	g.waitRefusal("", "no such file")
	g.serves("/v2")
	if c := g.config(); c.Refused == nil || c.Applied.Hash != sha(v2) {
		t.Errorf("/admin/config with the file gone = %+v", c)
	}
	v3 := configText(backend, "  - {path: /v3, service: svc}\n")
	writeFile(t, path, v3)
	g.waitServes(v3)
	g.serves("/v3")
}

// TestReloadsDoNotFailRequestsInFlight: clients call a route, a
// millisecond apart, while the file is replaced 20 times, each version adding a route
// of its own and keeping the one called, and SIGHUP reloads as many
// times: every request is answered 200.
func TestReloadsDoNotFailRequestsInFlight(t *testing.T) {
	backend := echoBackend(t)
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	text := func(i int) string {
		return configText(backend, fmt.Sprintf("  - {path: /steady, service: svc}\n  - {path: /x%d, service: svc}\n", i))
	}
	writeFile(t, path, text(0))
	hup := make(chan os.Signal, 1)
	g := runGatewaySignalled(t, hup, "-config", path)
	logs := g.logs

	var calls, failed atomic.Int64
	var firstFailure atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newClient(t)
			for {
				select {
				case <-stop:
					return
				default:
				}
				time.Sleep(time.Millisecond) // the clients' pace: as fast as they could, they starved the suites beside them
				calls.Add(1)
				resp, err := c.Get(g.front + "/steady")
				if err != nil {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, err.Error())
					continue
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(body) != "/steady" {
					failed.Add(1)
					firstFailure.CompareAndSwap(nil, fmt.Sprintf("%d %q", resp.StatusCode, body))
				}
			}
		}()
	}
	for i := 1; i <= 20; i++ {
		replaceFile(t, path, text(i))
		g.waitServes(text(i))
		hup <- syscall.SIGHUP
		logs.waitFor(t, "configuration reloaded", 2*i)
	}
	close(stop)
	wg.Wait()
	g.serves("/x20")
	if n := failed.Load(); n != 0 || calls.Load() == 0 {
		t.Errorf("%d of %d requests failed across 40 reloads; the first: %v", n, calls.Load(), firstFailure.Load())
	}
	t.Logf("%d requests across 40 reloads", calls.Load())
}
