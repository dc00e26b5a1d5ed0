package main

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/sluicehq/sluice/registry/consul/consultest"
)

func TestPushValidatesThenWritesWithCheckAndSet(t *testing.T) {
	agent := consultest.Start(t)
	kv := agent.Client().KV()
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	writeFile(t, good, configText("127.0.0.1:9", "  - {path: /v1, service: svc}\n"))
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, configText("127.0.0.1:9", "  - {path: /v1, service: nosuch}\n"))
	pushArgs := func(file string, extra ...string) (string, error) {
		var out bytes.Buffer
		args := append([]string{"push", file, "-consul", agent.Addr(), "-key", "sluice/config"}, extra...)
		err := run(context.Background(), args, &out, &bytes.Buffer{}, nil)
		return out.String(), err
	}

	// A gateway cannot start on a key that does not exist, nor on a URL
	// without a key.
	url := "consul://" + agent.Addr() + "/sluice/config"
	if err := run(context.Background(), []string{"-config", url}, &bytes.Buffer{}, &bytes.Buffer{}, nil); err == nil ||
		!strings.Contains(err.Error(), url+": the key does not exist") {
		t.Errorf("start on a missing key = %v, want it named as missing", err)
	}
	if err := run(context.Background(), []string{"-config", "consul://" + agent.Addr() + "/"}, &bytes.Buffer{}, &bytes.Buffer{}, nil); err == nil ||
		!strings.Contains(err.Error(), "want consul://HOST:PORT/KEY") {
		t.Errorf("start on a URL without a key = %v", err)
	}

	// A bad file: refused with its position, nothing written.
	_, err := pushArgs(bad)
	if err == nil || !strings.Contains(err.Error(), bad+":8:26: routes[0].service:") {
		t.Fatalf("push of a bad file = %v, want the error at %s:8:26", err, bad)
	}
	if p, _, err := kv.Get("sluice/config", nil); err != nil || p != nil {
		t.Fatalf("after a refused push the key is %v (%v), want none", p, err)
	}

	out, err := pushArgs(good)
	if err != nil || !strings.HasPrefix(out, "pushed "+good) {
		t.Fatalf("push = %q, %v", out, err)
	}
	p, _, err := kv.Get("sluice/config", nil)
	if err != nil || p == nil || !strings.Contains(string(p.Value), "path: /v1") {
		t.Fatalf("after the push the key is %v (%v)", p, err)
	}
	first := p.ModifyIndex

	// The same file again writes nothing.
	if out, err := pushArgs(good); err != nil || !strings.HasPrefix(out, "unchanged "+good) {
		t.Errorf("second push = %q, %v, want unchanged", out, err)
	}
	// Another push came first: a push made against the old index fails.
	writeFile(t, good, configText("127.0.0.1:9", "  - {path: /v2, service: svc}\n"))
	if _, err := kv.Put(&api.KVPair{Key: "sluice/config", Value: []byte("routes: []\n")}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := pushArgs(good, "-cas", strconv.FormatUint(first, 10)); !errors.Is(err, errConflict) {
		t.Errorf("push with a stale -cas = %v, want a conflict", err)
	}
	if p, _, _ := kv.Get("sluice/config", nil); p == nil || string(p.Value) != "routes: []\n" {
		t.Errorf("the conflicting push wrote: %v", p)
	}
}

// leaderlessKV answers every call with Consul's no-leader error until
// healthy, then like a KV store; lose drops the answer of the first
// successful write, as a connection cut after the write would.
type leaderlessKV struct {
	noLeader int // calls still to fail
	lose     bool
	pair     *api.KVPair
	calls    int
}

var errNoLeader = api.StatusError{Code: 500, Body: "No cluster leader"}

func (k *leaderlessKV) Get(string, *api.QueryOptions) (*api.KVPair, *api.QueryMeta, error) {
	k.calls++
	if k.noLeader > 0 {
		k.noLeader--
		return nil, nil, errNoLeader
	}
	return k.pair, &api.QueryMeta{}, nil
}

func (k *leaderlessKV) CAS(p *api.KVPair, _ *api.WriteOptions) (bool, *api.WriteMeta, error) {
	k.calls++
	if k.noLeader > 0 {
		k.noLeader--
		return false, nil, errNoLeader
	}
	var index uint64
	if k.pair != nil {
		index = k.pair.ModifyIndex
	}
	if p.ModifyIndex != index {
		return false, nil, nil
	}
	k.pair = &api.KVPair{Key: p.Key, Value: p.Value, ModifyIndex: index + 10}
	if k.lose {
		k.lose = false
		return false, nil, errors.New("Put \"http://127.0.0.1:8500/v1/kv/k\": EOF")
	}
	return true, nil, nil
}

func TestPushRetriesWhileConsulHasNoLeader(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	kv := &leaderlessKV{noLeader: 3, lose: true, pair: &api.KVPair{Key: "k", Value: []byte("old"), ModifyIndex: 5}}
	index, unchanged, err := pushCAS(ctx, kv, "k", []byte("new"), -1)
	if err != nil || unchanged || index != 15 || string(kv.pair.Value) != "new" {
		t.Fatalf("pushCAS = %d, %v, %v; key %+v: want the write done once at index 15", index, unchanged, err, kv.pair)
	}
	// A 4xx is not retried.
	forbidden := &forbiddenKV{}
	if _, _, err := pushCAS(ctx, forbidden, "k", []byte("x"), -1); err == nil || forbidden.calls != 1 {
		t.Errorf("a 403 was tried %d times (%v), want once", forbidden.calls, err)
	}
}

type forbiddenKV struct{ calls int }

func (f *forbiddenKV) Get(string, *api.QueryOptions) (*api.KVPair, *api.QueryMeta, error) {
	f.calls++
	return nil, nil, api.StatusError{Code: 403, Body: "Permission denied"}
}

func (f *forbiddenKV) CAS(*api.KVPair, *api.WriteOptions) (bool, *api.WriteMeta, error) {
	return false, nil, errors.New("not reached")
}
