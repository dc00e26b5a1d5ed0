package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/config/source"
)

// runningGateway is run() serving a configuration, for tests that change it.
type runningGateway struct {
	t      *testing.T
	logs   *logBuffer
	front  string
	admin  string
	client *http.Client
}

// runGateway runs the gateway with args until the test ends.
func runGateway(t *testing.T, args ...string) *runningGateway {
	t.Helper()
	return runGatewaySignalled(t, make(chan os.Signal), args...)
}

// runGatewaySignalled is runGateway with the signals sent on signals
// (SIGHUP reloads).
func runGatewaySignalled(t *testing.T, signals chan os.Signal, args ...string) *runningGateway {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	logs := newLogBuffer()
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, args, logs, io.Discard, signals) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-errc:
		case <-time.After(waitLimit):
			t.Error("run did not return after its context ended")
		}
	})
	logs.waitFor(t, "gateway ready", 1)
	listening := logs.waitFor(t, "listening", 2)
	g := &runningGateway{t: t, logs: logs, front: "http://" + listening[0]["address"].(string),
		admin: "http://" + listening[1]["address"].(string), client: &http.Client{Transport: &http.Transport{}}}
	t.Cleanup(g.client.CloseIdleConnections)
	return g
}

func (g *runningGateway) fetch(url string) (int, string) {
	g.t.Helper()
	resp, err := g.client.Get(url)
	if err != nil {
		g.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// adminConfig is GET /admin/config.
type adminConfig struct {
	Source  string `json:"source"`
	Name    string `json:"name"`
	Applied struct {
		Hash  string    `json:"hash"`
		Index uint64    `json:"index"`
		At    time.Time `json:"at"`
	} `json:"applied"`
	Refused *struct {
		Hash  string `json:"hash"`
		Index uint64 `json:"index"`
		Error string `json:"error"`
	} `json:"refused"`
	Watch struct {
		Mode      string `json:"mode"`
		LastError string `json:"last_error"`
	} `json:"watch"`
}

func (g *runningGateway) config() adminConfig {
	g.t.Helper()
	code, body := g.fetch(g.admin + "/admin/config")
	var c adminConfig
	if err := json.Unmarshal([]byte(body), &c); code != 200 || err != nil {
		g.t.Fatalf("/admin/config = %d %q: %v", code, body, err)
	}
	return c
}

// metric returns the value of the sample whose line starts with name{labels}.
func (g *runningGateway) metric(sample string) string {
	g.t.Helper()
	_, body := g.fetch(g.admin + "/metrics")
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			return v
		}
	}
	return ""
}

// replaceFile writes text beside path and renames it over path, as editors
// do.
func replaceFile(t *testing.T, path, text string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), ".gateway.yaml.tmp")
	writeFile(t, tmp, text)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestFileChangeReloadsAndABadOneIsRefused(t *testing.T) {
	backend := echoBackend(t)
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	v1 := configText(backend, "  - {path: /v1, service: svc}\n")
	writeFile(t, path, v1)
	g := runGateway(t, "-config", path)

	c := g.config()
	if c.Source != "file" || c.Name != path || c.Applied.Hash != source.Hash([]byte(v1)) || c.Watch.Mode != "fsnotify" {
		t.Fatalf("/admin/config at start = %+v, want file %s, hash of v1, watched by fsnotify", c, path)
	}
	if v := g.metric(`sluice_config_info{hash="` + c.Applied.Hash + `",source="file"}`); v != "1" {
		t.Errorf("sluice_config_info of the first version = %q, want 1", v)
	}
	started := c.Applied.At

	// No SIGHUP: the change alone reloads.
	v2 := configText(backend, "  - {path: /v2, service: svc}\n")
	replaceFile(t, path, v2)
	g.logs.waitFor(t, "configuration reloaded", 1)
	if code, body := g.fetch(g.front + "/v2"); code != 200 || body != "/v2" {
		t.Errorf("after the change /v2 = %d %q", code, body)
	}
	c = g.config()
	if c.Applied.Hash != source.Hash([]byte(v2)) || !c.Applied.At.After(started) || c.Refused != nil {
		t.Errorf("/admin/config after the change = %+v, want v2's hash, applied later", c)
	}
	if v := g.metric(`sluice_config_reloads_total{result="applied",source="file"}`); v != "1" {
		t.Errorf("applied reloads = %q, want 1", v)
	}
	if v := g.metric(`sluice_config_info{hash="` + source.Hash([]byte(v1)) + `",source="file"}`); v != "" {
		t.Errorf("the old version's info is still there: %q", v)
	}
	if v := g.metric("sluice_config_last_reload_timestamp_seconds"); v == "" || v == "0" {
		t.Errorf("sluice_config_last_reload_timestamp_seconds = %q", v)
	}

	// A bad version: refused at its line and column, the running routes
	// keep serving. (Renamed over the file: written in place, a loaded
	// machine could let the debounce pass between the truncation and the
	// write, and the gateway would first refuse an empty file.)
	bad := v2 + "  - {path: /v3, service: svc, budget: {timeout: 5}}\n"
	replaceFile(t, path, bad)
	failed := g.logs.waitFor(t, "configuration reload failed; the running configuration keeps serving", 1)
	msg, _ := failed[0]["error"].(string)
	if !strings.HasPrefix(msg, path+":9:49: routes[1].budget.timeout:") || failed[0]["result"] != "refused" {
		t.Errorf("refusal logged as %v, want the file:line:column of the timeout and result refused", failed[0])
	}
	if code, body := g.fetch(g.front + "/v2"); code != 200 || body != "/v2" {
		t.Errorf("after the refusal /v2 = %d %q", code, body)
	}
	c = g.config()
	if c.Applied.Hash != source.Hash([]byte(v2)) || c.Refused == nil || c.Refused.Error != msg || c.Refused.Hash != source.Hash([]byte(bad)) {
		t.Errorf("/admin/config after the refusal = %+v, want v2 applied and the refusal with its error", c)
	}
	if v := g.metric(`sluice_config_reloads_total{result="refused",source="file"}`); v != "1" {
		t.Errorf("refused reloads = %q, want 1", v)
	}
}

func TestWatchDisabledIsShown(t *testing.T) {
	backend := echoBackend(t)
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	writeFile(t, path, "watch: {disabled: true}\n"+configText(backend, "  - {path: /v1, service: svc}\n"))
	g := runGateway(t, "-config", path)
	if c := g.config(); c.Watch.Mode != "off" {
		t.Errorf("watch mode %q with watch.disabled, want off", c.Watch.Mode)
	}
}

func TestAVersionIsAppliedOrReportedOnce(t *testing.T) {
	backend := echoBackend(t)
	cfg, _ := loadFile(t, configText(backend, "  - {path: /v1, service: svc}\n"))
	logger, logs := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	count := func(result string) float64 {
		return testutil.ToFloat64(g.status.reloads.WithLabelValues(sourceFile, result))
	}
	bad := loaded{hash: "bad", err: &config.Error{File: "gateway.yaml", Line: 3, Column: 5, Msg: "wrong"}}
	g.applyLoaded(bad, false)
	g.applyLoaded(bad, false) // the same text again: a second event of one write
	if n := count(reloadRefused); n != 1 {
		t.Errorf("the same bad text counted %v times, want once", n)
	}
	g.applyLoaded(bad, true) // SIGHUP reports it again
	if n := count(reloadRefused); n != 2 {
		t.Errorf("after SIGHUP the bad text counted %v times, want twice", n)
	}
	// The text that serves, seen again (a touch): nothing reloads.
	g.applyLoaded(loaded{cfg: cfg, hash: cfg.Hash()}, false)
	if n := count(reloadApplied); n != 0 {
		t.Errorf("the serving text applied again %v times, want 0", n)
	}
	if found, _ := logs.find("configuration reloaded"); len(found) != 0 {
		t.Errorf("logged %d reloads of the serving text", len(found))
	}
	// A read error is counted as such.
	g.applyLoaded(loaded{err: os.ErrNotExist}, false)
	if n := count(reloadError); n != 1 {
		t.Errorf("a read error counted %v times as error, want once", n)
	}
}

// TestFileWatchSeesAChangeBeforeIt: a version written after the one the
// gateway loaded and before its watch began made no event; the watch reads
// the file once when it begins, and sends it. An unchanged file sends
// nothing. (The gateway loads the file, then starts watching it: a change
// in between waited for the next one.)
func TestFileWatchSeesAChangeBeforeIt(t *testing.T) {
	backend := echoBackend(t)
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	writeFile(t, path, configText(backend, "  - {path: /v1, service: svc}\n"))
	v2 := configText(backend, "  - {path: /v2, service: svc}\n")
	v3 := configText(backend, "  - {path: /v3, service: svc}\n")
	src := fileSource(path)
	// watch starts watching from since and returns once the watch began.
	watch := func(since loaded) <-chan loaded {
		ctx, cancel := context.WithCancel(context.Background())
		out, started, ended := make(chan loaded, 1), make(chan struct{}), make(chan struct{})
		t.Cleanup(func() { cancel(); <-ended })
		go func() {
			defer close(ended)
			if err := src.watch(ctx, since, time.Millisecond, out, func(error) {}, func() { close(started) }); err != nil {
				t.Error(err)
			}
		}()
		select {
		case <-started:
		case <-ended:
			t.FailNow()
		}
		return out
	}
	next := func(out <-chan loaded, want string) {
		t.Helper()
		select {
		case got := <-out:
			if got.err != nil || got.hash != source.Hash([]byte(want)) {
				t.Errorf("sent %v (hash %s), want the hash of %q", got.err, got.hash, want)
			}
		case <-time.After(waitLimit):
			t.Fatalf("nothing sent in %v", waitLimit)
		}
	}

	// Unchanged when the watch begins: the first version sent is the next.
	l := src.load(context.Background())
	out := watch(l)
	replaceFile(t, path, v2) // renamed over it: no empty file to read between two writes
	next(out, v2)

	// Changed between the load and the watch: sent at once.
	l = src.load(context.Background())
	replaceFile(t, path, v3)
	next(watch(l), v3)
}
