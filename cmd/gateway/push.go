package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/config/source"
)

// pushKV is the part of Consul's KV API that push uses. *api.KV satisfies
// it.
type pushKV interface {
	Get(key string, q *api.QueryOptions) (*api.KVPair, *api.QueryMeta, error)
	CAS(p *api.KVPair, q *api.WriteOptions) (bool, *api.WriteMeta, error)
}

var _ pushKV = (*api.KV)(nil)

// push is `gateway push FILE -consul ADDRESS -key KEY`: it validates FILE
// as a gateway would load it, then writes it to the key with a
// check-and-set on the key's ModifyIndex, so that two pushes never silently
// overwrite each other. A write that finds no Consul leader (an election)
// is tried again until -timeout.
func push(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("gateway push", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("consul", "127.0.0.1:8500", "the Consul agent's HTTP `address`")
	key := fs.String("key", "", "the KV `key` the gateways read (required), as in -config consul://ADDRESS/KEY")
	dc := fs.String("dc", "", "the `datacenter`; empty means the agent's")
	cas := fs.Int64("cas", -1, "write only if the key's ModifyIndex is still `N` (0: only if the key does not exist); -1 takes the index read just before writing")
	timeout := fs.Duration("timeout", 30*time.Second, "how long to keep trying while Consul has no leader")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: gateway push FILE -key KEY [-consul ADDRESS] [-cas N] [-dc DC] [-timeout 30s]")
		fs.PrintDefaults()
	}
	// The file may come before or after the flags.
	if err := fs.Parse(args); err != nil {
		return err
	}
	var file string
	if fs.NArg() > 0 {
		file = fs.Arg(0)
		if err := fs.Parse(fs.Args()[1:]); err != nil {
			return err
		}
	}
	if file == "" || fs.NArg() > 0 || *key == "" {
		fs.Usage()
		return errors.New("push: want one FILE and -key")
	}
	text, err := source.ReadFile(file)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	// As a gateway reading the key will: relative file names from the
	// working directory, the environment's variables.
	wd, _ := os.Getwd()
	if _, err := config.ParseIn(file, wd, text.Data); err != nil {
		return fmt.Errorf("push: refused, nothing written: %w", err)
	}
	client, err := consulClient(*addr, *dc)
	if err != nil {
		return fmt.Errorf("push: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	index, unchanged, err := pushCAS(ctx, client.KV(), *key, text.Data, *cas)
	if err != nil {
		return fmt.Errorf("push: %s to consul://%s/%s: %w", file, *addr, *key, err)
	}
	verb := "pushed"
	if unchanged {
		verb = "unchanged"
	}
	fmt.Fprintf(stdout, "%s %s to consul://%s/%s: index %d, sha256 %s\n", verb, file, *addr, *key, index, text.Hash())
	return nil
}

// errConflict reports a check-and-set that found another version.
var errConflict = errors.New("the key changed since it was read: another push came first; look at it (consul kv get) and push again")

// pushCAS writes data to key if the key's ModifyIndex is cas (or, with cas
// -1, the index it reads first), retrying while Consul has no leader. It
// returns the key's index after the write, and whether the key held data
// already.
func pushCAS(ctx context.Context, kv pushKV, key string, data []byte, cas int64) (uint64, bool, error) {
	wait := 100 * time.Millisecond
	for attempt := 0; ; attempt++ {
		index, unchanged, err := pushOnce(ctx, kv, key, data, cas, attempt > 0)
		if err == nil || !retryable(err) {
			return index, unchanged, err
		}
		select {
		case <-ctx.Done():
			return 0, false, fmt.Errorf("%w (last: %v)", ctx.Err(), err)
		case <-time.After(wait):
		}
		wait = min(2*wait, 2*time.Second)
	}
}

func pushOnce(ctx context.Context, kv pushKV, key string, data []byte, cas int64, retry bool) (uint64, bool, error) {
	// Read from the leader (not stale): the index feeds the check-and-set.
	cur, _, err := kv.Get(key, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil {
		return 0, false, err
	}
	var index uint64
	if cur != nil {
		index = cur.ModifyIndex
		if bytes.Equal(cur.Value, data) && (cas < 0 || retry || uint64(cas) == index) {
			// Already there: a retry whose first write landed, or the
			// same file pushed twice.
			return index, !retry, nil
		}
	}
	if cas >= 0 && uint64(cas) != index {
		return 0, false, fmt.Errorf("%w (index %d, -cas %d)", errConflict, index, cas)
	}
	ok, _, err := kv.CAS(&api.KVPair{Key: key, Value: data, ModifyIndex: index}, (&api.WriteOptions{}).WithContext(ctx))
	if err != nil {
		return 0, false, err
	}
	if !ok {
		return 0, false, fmt.Errorf("%w (index %d)", errConflict, index)
	}
	after, _, err := kv.Get(key, (&api.QueryOptions{}).WithContext(ctx))
	if err != nil || after == nil {
		return index, false, nil // written; the new index is unknown
	}
	return after.ModifyIndex, false, nil
}

// retryable says whether a Consul error may pass with time: no leader (an
// election), or the agent unreachable. 4xx answers (ACLs, a bad key) and
// conflicts do not.
func retryable(err error) bool {
	if errors.Is(err, errConflict) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var se api.StatusError
	if errors.As(err, &se) {
		return se.Code >= http.StatusInternalServerError
	}
	// consul/api wraps some answers in plain errors ("Unexpected response
	// code: 500 (No cluster leader)").
	if s := err.Error(); strings.Contains(s, "Unexpected response code: 4") {
		return false
	}
	return true
}
