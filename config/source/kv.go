package source

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/hashicorp/consul/api"
)

// KV is the part of Consul's KV API that KVWatcher reads. *api.KV
// satisfies it.
type KV interface {
	// Get reads one key; a nil pair and no error mean the key does not
	// exist. q carries the blocking-query index, wait time, consistency
	// mode and context.
	Get(key string, q *api.QueryOptions) (*api.KVPair, *api.QueryMeta, error)
}

var _ KV = (*api.KV)(nil)

// KVWatcher defaults.
const (
	// DefaultKVWait is how long a blocking query waits in Consul before it
	// returns an unchanged key (Consul adds up to 1/16 of jitter of its own,
	// so N watchers' timeouts spread). A minute, as the registry's
	// (consul.DefaultWaitTime), not Consul's five: an agent that takes the
	// query and never answers is seen only when the query is given up, after
	// the wait, its jitter and 10 s, so a hung agent's configuration changes
	// went unseen, and unreported (sluice_config_watch_errors_total), for
	// 5 min 29 s; now 1 min 14 s.
	DefaultKVWait = time.Minute
	// DefaultKVBackoffBase and DefaultKVBackoffMax bound the full-jitter
	// back-off between failed queries: retry n waits a random time below
	// min(max, base·2ⁿ⁻¹).
	DefaultKVBackoffBase = 100 * time.Millisecond
	DefaultKVBackoffMax  = 2 * time.Second
)

// ErrNoKey reports that the watched key does not exist (or was deleted).
var ErrNoKey = errors.New("the key does not exist")

// KVWatcher reads one Consul KV key and follows its changes with blocking
// queries.
//
// Every read is a stale read (AllowStale): any Consul server answers from its
// own copy, so reads go on while the cluster has no leader (an election after
// the leader died takes seconds; with Consul's default raft_multiplier, more
// than ten) and the leader is not the one server every gateway's watch lands
// on. A follower's copy lags the leader's by its replication delay, usually
// milliseconds; the change arrives with the next blocking answer.
//
// Errors (Consul unreachable, a server gone mid-query) are retried with
// full-jitter back-off, so that N gateways whose queries failed at the same
// moment (their server died) do not come back at the same moment; after an
// error the next query reads the key at once (index 0), so a change made
// during the outage is seen on recovery.
type KVWatcher struct {
	kv      KV
	name    string
	key     string
	wait    time.Duration
	base    time.Duration
	max     time.Duration
	onError func(error)
	after   func(time.Duration) <-chan time.Time
	jitter  func(n int64) int64 // uniform in [0, n)
}

// KVOption configures a KVWatcher.
type KVOption func(*KVWatcher)

// WithKVWait sets how long each blocking query waits in Consul; zero or less
// means DefaultKVWait.
func WithKVWait(d time.Duration) KVOption {
	return func(w *KVWatcher) {
		if d > 0 {
			w.wait = d
		}
	}
}

// WithKVBackoff sets the base and cap of the back-off between failed
// queries; zero values keep the defaults.
func WithKVBackoff(base, ceiling time.Duration) KVOption {
	return func(w *KVWatcher) {
		if base > 0 {
			w.base = base
		}
		if ceiling > 0 {
			w.max = ceiling
		}
	}
}

// WithKVErrorHandler sets a function called, from Run's goroutine, with each
// failed query, and with nil at the first query that succeeds after
// failures. It must not block.
func WithKVErrorHandler(f func(error)) KVOption { return func(w *KVWatcher) { w.onError = f } }

// withKVClock replaces the timer and the random source, for tests.
func withKVClock(after func(time.Duration) <-chan time.Time, jitter func(int64) int64) KVOption {
	return func(w *KVWatcher) { w.after, w.jitter = after, jitter }
}

// NewKVWatcher returns a watcher of key through kv; name names the source in
// the Texts it gives (consul://ADDRESS/KEY).
func NewKVWatcher(kv KV, name, key string, opts ...KVOption) *KVWatcher {
	w := &KVWatcher{kv: kv, name: name, key: key, wait: DefaultKVWait, base: DefaultKVBackoffBase,
		max: DefaultKVBackoffMax, onError: func(error) {}, after: time.After, jitter: rand.Int64N}
	for _, o := range opts {
		o(w)
	}
	return w
}

// Get reads the key now (a stale read). A key that does not exist is
// ErrNoKey.
func (w *KVWatcher) Get(ctx context.Context) (Text, error) {
	q := (&api.QueryOptions{AllowStale: true}).WithContext(ctx)
	pair, _, err := w.kv.Get(w.key, q)
	if err != nil {
		return Text{Name: w.name}, w.wrap(ctx, err)
	}
	if pair == nil {
		return Text{Name: w.name}, fmt.Errorf("%s: %w", w.name, ErrNoKey)
	}
	return Text{Name: w.name, Data: pair.Value, Index: pair.ModifyIndex}, nil
}

// ErrBehind reports an answer from a Consul server whose copy is older
// than what the watcher already read, and that knows no leader to catch up
// from.
var ErrBehind = errors.New("a Consul server with no leader answered from a copy older than the one already read")

// Run follows the key until ctx ends. since is the ModifyIndex of the
// version the caller holds (zero for none); deliver is called, from Run's
// goroutine, with each later version, or with ErrNoKey when the key is
// deleted. A version is delivered once, however many queries return it.
//
// Reads are stale: after a failure the next query may land on another
// server, and a server cut off from the others (a partition, quorum lost)
// answers from its copy however old. An answer whose index is below the
// one already read, from a server that knows no leader, is such a copy,
// not a newer state: it is an error (ErrBehind), retried as any, and not
// delivered, where it took every gateway on that server back to an older
// configuration until the partition healed. An index that goes back on a
// server that knows a leader is the cluster's own (a restored snapshot),
// and is followed.
func (w *KVWatcher) Run(ctx context.Context, since uint64, deliver func(Text, error)) {
	index, last, failures := uint64(0), since, 0
	held := since // the index of the last answer taken
	for ctx.Err() == nil {
		pair, meta, err := w.query(ctx, index)
		if ctx.Err() != nil {
			return
		}
		if err == nil && meta.LastIndex < held && !meta.KnownLeader {
			err = fmt.Errorf("%s: %w (index %d, after %d)", w.name, ErrBehind, meta.LastIndex, held)
		}
		if err != nil {
			w.onError(err)
			failures++
			index = 0
			select {
			case <-w.after(w.backoff(failures)):
			case <-ctx.Done():
				return
			}
			continue
		}
		if failures > 0 {
			w.onError(nil)
		}
		failures = 0
		held = meta.LastIndex
		var modify uint64
		if pair != nil {
			modify = pair.ModifyIndex
		}
		if modify != last {
			last = modify
			if pair == nil {
				deliver(Text{Name: w.name}, fmt.Errorf("%s: %w", w.name, ErrNoKey))
			} else {
				deliver(Text{Name: w.name, Data: pair.Value, Index: pair.ModifyIndex}, nil)
			}
		}
		switch next := meta.LastIndex; {
		case next < index:
			index = 0 // the index went back (a restored snapshot): read afresh
		case next == 0:
			index = 1 // documented as never 0; 0 would not block and spin
		default:
			index = next
		}
	}
}

// query runs one blocking query, bounded so that a dead connection cannot
// hold it past Consul's longest answer.
func (w *KVWatcher) query(ctx context.Context, index uint64) (*api.KVPair, *api.QueryMeta, error) {
	qctx, cancel := context.WithTimeout(ctx, w.wait+w.wait/16+10*time.Second)
	defer cancel()
	q := (&api.QueryOptions{AllowStale: true, WaitIndex: index, WaitTime: w.wait}).WithContext(qctx)
	pair, meta, err := w.kv.Get(w.key, q)
	if err == nil && meta == nil {
		err = errors.New("consul answered without query metadata")
	}
	if err != nil {
		return nil, nil, w.wrap(qctx, err)
	}
	return pair, meta, nil
}

func (w *KVWatcher) wrap(ctx context.Context, err error) error {
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	return fmt.Errorf("%s: %w", w.name, err)
}

// backoff returns the full-jitter wait before retry n (from 1).
func (w *KVWatcher) backoff(n int) time.Duration {
	ceil := w.base
	for i := 1; i < n && ceil < w.max; i++ {
		ceil *= 2
	}
	return time.Duration(w.jitter(int64(min(ceil, w.max))))
}
