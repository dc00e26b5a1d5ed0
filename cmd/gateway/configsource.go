package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/config/source"
	"github.com/sluicehq/sluice/registry/consul"
)

// Where the configuration comes from: the source label of the metrics and
// of /admin/config.
const (
	sourceFile    = "file"
	sourceConsul  = "consul"
	sourceDefault = "default"
)

// defaultName is the name config.Default gives the embedded default.
const defaultName = "embedded default.yaml"

// consulScheme starts a -config value that names a Consul KV key:
// consul://HOST:PORT/KEY.
const consulScheme = "consul://"

// startTimeout bounds how long a gateway whose configuration is in Consul
// KV waits for Consul at start: longer than an election with Consul's
// default raft_multiplier (about 15 s here), so that a gateway started
// during one comes up after it.
const startTimeout = 30 * time.Second

// loaded is one version of the configuration as read from its source:
// parsed and valid (cfg), or refused (err).
type loaded struct {
	cfg   *config.Config
	hash  string // of the text; "" when none could be read
	index uint64 // Consul KV ModifyIndex; 0 for a file
	err   error
}

// configSource gives the gateway its configuration and tells it of changes.
type configSource struct {
	kind string // sourceFile, sourceConsul or sourceDefault
	name string // the file's path or the consul:// URL
	// load reads and parses the configuration now (on start and SIGHUP).
	load func(ctx context.Context) loaded
	// watch, when not nil, runs until ctx ends, sending on out each version
	// that may differ from since, a change made before it was called
	// included. It calls started once it sees every later change (and
	// returns an error without calling it if it cannot watch). Each send
	// gives up when ctx ends.
	watch func(ctx context.Context, since loaded, debounce time.Duration, out chan<- loaded, onError func(error), started func()) error
}

// newConfigSource reads the -config flag: empty for the embedded default,
// consul://HOST:PORT/KEY for a Consul KV key, else a file.
func newConfigSource(value string) (*configSource, error) {
	switch {
	case value == "":
		return &configSource{kind: sourceDefault, name: defaultName, load: func(context.Context) loaded {
			cfg := config.Default()
			return loaded{cfg: cfg, hash: cfg.Hash()}
		}}, nil
	case strings.HasPrefix(value, consulScheme):
		return consulSource(value)
	}
	return fileSource(value), nil
}

func fileSource(path string) *configSource {
	read := func() loaded {
		t, err := source.ReadFile(path)
		if err != nil {
			return loaded{err: err}
		}
		cfg, err := config.Parse(t.Name, t.Data)
		return loaded{cfg: cfg, hash: t.Hash(), err: err}
	}
	return &configSource{kind: sourceFile, name: path,
		load: func(context.Context) loaded { return read() },
		watch: func(ctx context.Context, since loaded, debounce time.Duration, out chan<- loaded, onError func(error), started func()) error {
			fw, err := source.WatchFile(path, debounce, source.WithFileErrorHandler(onError))
			if err != nil {
				return err
			}
			defer fw.Close()
			started()
			last := since.hash
			// The watcher's first report comes a debounce period after it
			// began, for a change written after since was read and before
			// the watch began, which made no event; read at once, a write
			// begun right after the gateway said it was ready was read half
			// done (an empty file refused, or a valid prefix applied).
			for {
				select {
				case <-ctx.Done():
					return nil
				case <-fw.Changes():
				}
				l := read()
				if l.err == nil || l.hash != "" {
					if l.hash == last {
						continue // touched, not changed
					}
					last = l.hash
				}
				select {
				case out <- l:
				case <-ctx.Done():
					return nil
				}
			}
		}}
}

// consulKey splits consul://HOST:PORT/KEY?dc=DC.
func consulKey(value string) (addr, key, dc string, err error) {
	u, err := url.Parse(value)
	if err != nil {
		return "", "", "", fmt.Errorf("-config %s: %w", value, err)
	}
	key = strings.TrimPrefix(u.Path, "/")
	if u.Host == "" || key == "" || strings.HasSuffix(key, "/") {
		return "", "", "", fmt.Errorf("-config %s: want consul://HOST:PORT/KEY, such as consul://127.0.0.1:8500/sluice/config", value)
	}
	return u.Host, key, u.Query().Get("dc"), nil
}

// consulClient returns a Consul client for addr: the environment's settings
// (CONSUL_HTTP_TOKEN, CONSUL_CACERT, ...) with the address given.
func consulClient(addr, dc string) (*api.Client, error) {
	cfg := api.DefaultConfig()
	cfg.Address, cfg.Datacenter = addr, dc
	return consul.NewClient(cfg) // its answers bounded
}

func consulSource(value string) (*configSource, error) {
	addr, key, dc, err := consulKey(value)
	if err != nil {
		return nil, err
	}
	client, err := consulClient(addr, dc)
	if err != nil {
		return nil, fmt.Errorf("-config %s: %w", value, err)
	}
	name := consulScheme + addr + "/" + key
	// Relative file names in a KV configuration (keys, certificates) are
	// taken from the gateway's working directory.
	wd, _ := os.Getwd()
	parse := func(t source.Text, err error) loaded {
		if err != nil {
			return loaded{index: t.Index, err: err}
		}
		cfg, err := config.ParseIn(t.Name, wd, t.Data)
		return loaded{cfg: cfg, hash: t.Hash(), index: t.Index, err: err}
	}
	watcher := func(opts ...source.KVOption) *source.KVWatcher {
		return source.NewKVWatcher(client.KV(), name, key, opts...)
	}
	return &configSource{kind: sourceConsul, name: name,
		load: func(ctx context.Context) loaded { return parse(watcher().Get(ctx)) },
		watch: func(ctx context.Context, since loaded, _ time.Duration, out chan<- loaded, onError func(error), started func()) error {
			// A blocking query from since's index sees every change made
			// after it, whenever it is first asked.
			started()
			watcher(source.WithKVErrorHandler(onError)).Run(ctx, since.index, func(t source.Text, err error) {
				select {
				case out <- parse(t, err):
				case <-ctx.Done():
				}
			})
			return nil
		}}, nil
}

// loadAtStart reads the configuration for the gateway's start. A Consul
// source that cannot be reached (down, or electing a leader) is tried again
// with full-jitter back-off for up to startTimeout; a configuration error, or a key that
// does not exist, ends the start at once.
func (s *configSource) loadAtStart(ctx context.Context) loaded {
	if s.kind != sourceConsul {
		return s.load(ctx)
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	ceil := 100 * time.Millisecond
	for {
		l := s.load(ctx)
		var ce *config.Error
		if l.err == nil || errors.As(l.err, &ce) || errors.Is(l.err, source.ErrNoKey) {
			if errors.Is(l.err, source.ErrNoKey) {
				l.err = fmt.Errorf("%w: put a configuration there first (gateway push FILE -consul ADDRESS -key KEY)", l.err)
			}
			return l
		}
		// Full jitter: replicas started together during an election do
		// not ask together.
		select {
		case <-ctx.Done():
			return l
		case <-time.After(time.Duration(rand.Int64N(int64(ceil)))):
		}
		ceil = min(2*ceil, 2*time.Second)
	}
}
