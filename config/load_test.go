package config_test

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/router"
)

func TestDefaultYAMLParses(t *testing.T) {
	onDisk, err := os.ReadFile("default.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(onDisk, config.DefaultYAML()) {
		t.Fatal("DefaultYAML differs from default.yaml")
	}
	c, err := config.Parse("default.yaml", onDisk)
	if err != nil {
		t.Fatalf("Parse(default.yaml): %v", err)
	}
	if d := config.Default(); d.File() != "embedded default.yaml" || len(d.Routes) != len(c.Routes) {
		t.Errorf("Default() = %s with %d routes, want the embedded file's %d", d.File(), len(d.Routes), len(c.Routes))
	}
	if len(c.Routes) == 0 || len(c.StaticNodes()) == 0 || c.Admin == nil {
		t.Errorf("default config has %d routes, %d nodes, admin %v", len(c.Routes), len(c.StaticNodes()), c.Admin)
	}
	// Its routes build a router, and every route's service has a node.
	if _, err := router.New(c.RouterRoutes(), nil, router.Options{}); err != nil {
		t.Errorf("the default routes do not build a router: %v", err)
	}
	// DefaultYAML hands out a copy.
	b := config.DefaultYAML()
	b[0] = 'X'
	if config.DefaultYAML()[0] == 'X' {
		t.Error("DefaultYAML returned the embedded bytes themselves")
	}
}

func TestDefaultsApplied(t *testing.T) {
	const text = nodes + `
defaults:
  budget: {timeout: 3s, max: 6s, min: 20ms, allow_raise: true}
routes:
  - path: /plain
    service: svc
  - method: post
    path: /own
    service: svc
    budget: {timeout: 1s, allow_raise: false}
  - method: "*"
    path: /any/*
    service: svc
`
	c, err := config.Parse("gw.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if c.File() != "gw.yaml" {
		t.Errorf("File() = %q", c.File())
	}
	got := c.RouterRoutes()
	want := []router.Route{
		{Method: "GET", Path: "/plain", Service: "svc",
			Budget: budget.Policy{Timeout: 3 * time.Second, Max: 6 * time.Second, Min: 20 * time.Millisecond, AllowRaise: true}},
		{Method: "POST", Path: "/own", Service: "svc",
			Budget: budget.Policy{Timeout: time.Second, Max: 6 * time.Second, Min: 20 * time.Millisecond, AllowRaise: false}},
		{Method: "*", Path: "/any/*", Service: "svc",
			Budget: budget.Policy{Timeout: 3 * time.Second, Max: 6 * time.Second, Min: 20 * time.Millisecond, AllowRaise: true}},
	}
	if len(got) != len(want) {
		t.Fatalf("%d routes, want %d", len(got), len(want))
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("route %d = %+v\nwant      %+v", i, got[i], want[i])
		}
	}
}

func TestTopLevelDefaults(t *testing.T) {
	c, err := config.Parse("gw.yaml", []byte(nodes))
	if err != nil {
		t.Fatal(err)
	}
	switch {
	case len(c.Listeners) != 1 || c.Listeners[0].Address != config.DefaultListen:
		t.Errorf("listeners = %+v", c.Listeners)
	case c.Admin != nil:
		t.Errorf("admin = %+v, want none", c.Admin)
	case c.ShutdownGrace != config.DefaultShutdownGrace:
		t.Errorf("shutdown_grace = %v", c.ShutdownGrace)
	case c.Registry.Kind != "static" || c.Registry.Consul.Address != config.DefaultConsulAddress:
		t.Errorf("registry = %+v", c.Registry)
	case c.Upstream.Margin != time.Millisecond || c.Upstream.MaxRetries != 2:
		t.Errorf("upstream = %+v", c.Upstream)
	case c.Defaults.Budget.Timeout != config.DefaultRouteTimeout:
		t.Errorf("defaults = %+v", c.Defaults)
	}
	if sn := c.StaticNodes(); len(sn) != 1 || sn[0].Service != "svc" || sn[0].Address != "127.0.0.1:9000" {
		t.Errorf("StaticNodes() = %v", sn)
	}

	// -1 disables retries and stays -1; explicit values are kept.
	c, err = config.Parse("gw.yaml", []byte("upstream: {max_retries: -1, margin: 3ms}\nshutdown_grace: 2s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Upstream.MaxRetries != -1 || c.Upstream.Margin != 3*time.Millisecond || c.ShutdownGrace != 2*time.Second {
		t.Errorf("upstream = %+v, grace %v", c.Upstream, c.ShutdownGrace)
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}

	good := write("good.yaml", []byte(nodes+"routes:\n  - {path: /a, service: svc}\n"))
	c, err := config.Load(good)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.File() != good || len(c.Routes) != 1 {
		t.Errorf("Load = %s with %d routes", c.File(), len(c.Routes))
	}

	bad := write("bad.yaml", []byte(nodes+"routes:\n  - {path: /a, service: nope}\n"))
	if _, err := config.Load(bad); err == nil || !strings.HasPrefix(err.Error(), bad+":5:") {
		t.Errorf("Load(bad) = %v, want an error at %s:5", err, bad)
	}

	missing := filepath.Join(dir, "missing.yaml")
	if _, err := config.Load(missing); !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("Load(missing) = %v, want a not-exist error naming the file", err)
	}

	// A file at the bound is read (and is, here, only comments); one byte
	// more is refused before parsing.
	comments := bytes.Repeat([]byte("#234567\n"), config.MaxFileBytes/8)
	atBound := write("at-bound.yaml", comments)
	if _, err := config.Load(atBound); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("Load(%d bytes) = %v, want it parsed", len(comments), err)
	}
	over := write("over.yaml", append(comments, '\n'))
	_, err = config.Load(over)
	var ce *config.Error
	if !errors.As(err, &ce) || ce.File != over || !strings.Contains(ce.Msg, "larger than") {
		t.Errorf("Load(%d bytes) = %v, want a size error", len(comments)+1, err)
	}
}
