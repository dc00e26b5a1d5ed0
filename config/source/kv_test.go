package source

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// kvCall is one Get the fake received; the test answers it on reply.
type kvCall struct {
	key   string
	q     api.QueryOptions
	reply chan kvReply
}

type kvReply struct {
	pair *api.KVPair
	meta *api.QueryMeta
	err  error
}

// fakeKV hands each Get to the test.
type fakeKV struct{ calls chan kvCall }

func (f *fakeKV) Get(key string, q *api.QueryOptions) (*api.KVPair, *api.QueryMeta, error) {
	c := kvCall{key: key, q: *q, reply: make(chan kvReply)}
	select {
	case f.calls <- c:
	case <-q.Context().Done():
		return nil, nil, q.Context().Err()
	}
	select {
	case r := <-c.reply:
		return r.pair, r.meta, r.err
	case <-q.Context().Done():
		return nil, nil, q.Context().Err()
	}
}

type delivered struct {
	text Text
	err  error
}

// kvRun runs a watcher over a fake KV; timers and jitter are the test's.
type kvRun struct {
	t         *testing.T
	kv        *fakeKV
	out       chan delivered
	timers    chan time.Duration // the back-off waits asked for
	fire      chan time.Time
	jitterMax chan int64 // the ceilings the jitter was drawn under
	errs      chan error // what the error handler was given
}

func startKV(t *testing.T, since uint64) *kvRun {
	r := &kvRun{t: t, kv: &fakeKV{calls: make(chan kvCall)}, out: make(chan delivered, 10),
		timers: make(chan time.Duration, 10), fire: make(chan time.Time), jitterMax: make(chan int64, 10),
		errs: make(chan error, 20)}
	w := NewKVWatcher(r.kv, "consul://test/sluice/config", "sluice/config", WithKVWait(time.Minute),
		WithKVErrorHandler(func(err error) { r.errs <- err }),
		withKVClock(func(d time.Duration) <-chan time.Time {
			r.timers <- d
			return r.fire
		}, func(n int64) int64 {
			r.jitterMax <- n
			return n - 1
		}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.Run(ctx, since, func(t Text, err error) { r.out <- delivered{t, err} })
	}()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

// next returns the watcher's next query.
func (r *kvRun) next() kvCall {
	r.t.Helper()
	select {
	case c := <-r.kv.calls:
		return c
	case <-time.After(waitLimit):
		r.t.Fatal("the watcher sent no query")
		return kvCall{}
	}
}

func pair(modify uint64, value string) *api.KVPair {
	return &api.KVPair{Key: "sluice/config", ModifyIndex: modify, Value: []byte(value)}
}

func (r *kvRun) delivered() []delivered {
	var out []delivered
	for {
		select {
		case d := <-r.out:
			out = append(out, d)
		default:
			return out
		}
	}
}

func TestKVWatcherFollowsTheKeyWithStaleBlockingQueries(t *testing.T) {
	r := startKV(t, 5)
	c := r.next()
	if c.key != "sluice/config" || !c.q.AllowStale || c.q.WaitIndex != 0 || c.q.WaitTime != time.Minute {
		t.Fatalf("first query %+v on %q: want a stale read of sluice/config from index 0, waiting 1m", c.q, c.key)
	}
	c.reply <- kvReply{pair: pair(5, "v5"), meta: &api.QueryMeta{LastIndex: 5}}
	c = r.next()
	if c.q.WaitIndex != 5 || !c.q.AllowStale {
		t.Fatalf("second query waits on index %d (stale %v), want 5, stale", c.q.WaitIndex, c.q.AllowStale)
	}
	if d := r.delivered(); len(d) != 0 {
		t.Fatalf("the version the caller holds was delivered again: %+v", d)
	}
	// A blocking answer with another key's change: same ModifyIndex.
	c.reply <- kvReply{pair: pair(5, "v5"), meta: &api.QueryMeta{LastIndex: 9}}
	c = r.next()
	if c.q.WaitIndex != 9 {
		t.Fatalf("query waits on %d, want 9", c.q.WaitIndex)
	}
	if d := r.delivered(); len(d) != 0 {
		t.Fatalf("an unchanged key was delivered: %+v", d)
	}
	c.reply <- kvReply{pair: pair(12, "v12"), meta: &api.QueryMeta{LastIndex: 12}}
	c = r.next()
	d := r.delivered()
	if len(d) != 1 || string(d[0].text.Data) != "v12" || d[0].text.Index != 12 || d[0].err != nil {
		t.Fatalf("delivered %+v, want v12 at index 12", d)
	}
	// The index going back on a server that knows a leader (a restored
	// snapshot) reads afresh from 0.
	c.reply <- kvReply{pair: pair(12, "v12"), meta: &api.QueryMeta{LastIndex: 3, KnownLeader: true}}
	if c = r.next(); c.q.WaitIndex != 0 {
		t.Fatalf("after the index went back, query waits on %d, want 0", c.q.WaitIndex)
	}
	// Deleted.
	c.reply <- kvReply{meta: &api.QueryMeta{LastIndex: 20}}
	r.next()
	d = r.delivered()
	if len(d) != 1 || !errors.Is(d[0].err, ErrNoKey) {
		t.Fatalf("after a delete, delivered %+v, want ErrNoKey", d)
	}
}

func TestKVWatcherBacksOffWithFullJitterAndRereadsOnRecovery(t *testing.T) {
	r := startKV(t, 0)
	c := r.next()
	c.reply <- kvReply{pair: pair(7, "v7"), meta: &api.QueryMeta{LastIndex: 7}}
	c = r.next() // sent after the delivery
	if d := r.delivered(); len(d) != 1 || string(d[0].text.Data) != "v7" {
		t.Fatalf("delivered %+v, want v7", d)
	}
	// The leader dies: Consul answers 500 No cluster leader, again and again.
	leaderLoss := api.StatusError{Code: 500, Body: "No cluster leader"}
	var ceilings []int64
	for i := 0; i < 6; i++ {
		if i > 0 {
			c = r.next()
		}
		c.reply <- kvReply{err: leaderLoss}
		ceilings = append(ceilings, <-r.jitterMax)
		if d := <-r.timers; d != time.Duration(ceilings[i]-1) {
			t.Fatalf("retry %d waits %v, want the jittered %v", i+1, d, time.Duration(ceilings[i]-1))
		}
		r.fire <- time.Now()
	}
	want := []int64{100, 200, 400, 800, 1600, 2000}
	for i, w := range want {
		if ceilings[i] != int64(time.Duration(w)*time.Millisecond) {
			t.Errorf("retry %d drew its wait below %v, want below %dms", i+1, time.Duration(ceilings[i]), w)
		}
	}
	// Back: the first query reads at once (index 0), and sees the change
	// made during the election.
	c = r.next()
	if c.q.WaitIndex != 0 {
		t.Fatalf("after errors the query waits on %d, want 0 (read at once)", c.q.WaitIndex)
	}
	c.reply <- kvReply{pair: pair(30, "v30"), meta: &api.QueryMeta{LastIndex: 30}}
	r.next()
	if d := r.delivered(); len(d) != 1 || string(d[0].text.Data) != "v30" {
		t.Fatalf("after recovery delivered %+v, want v30", d)
	}
	// The error handler saw each failure, then nil for the recovery.
	var got []error
	for len(r.errs) > 0 {
		got = append(got, <-r.errs)
	}
	if len(got) != 7 || got[6] != nil || !strings.Contains(got[0].Error(), "No cluster leader") {
		t.Errorf("the error handler got %v, want 6 leader losses and then nil", got)
	}
}

func TestKVWatcherGetIsAStaleRead(t *testing.T) {
	kv := &fakeKV{calls: make(chan kvCall)}
	w := NewKVWatcher(kv, "consul://test/k", "k")
	type result struct {
		text Text
		err  error
	}
	got := make(chan result, 1)
	go func() {
		text, err := w.Get(context.Background())
		got <- result{text, err}
	}()
	c := <-kv.calls
	if !c.q.AllowStale || c.q.WaitIndex != 0 {
		t.Errorf("Get sent %+v, want a stale read that does not block", c.q)
	}
	c.reply <- kvReply{meta: &api.QueryMeta{LastIndex: 3}}
	if r := <-got; !errors.Is(r.err, ErrNoKey) || r.text.Name != "consul://test/k" {
		t.Errorf("Get of a missing key = %+v, %v; want ErrNoKey", r.text, r.err)
	}
}

// By default a blocking query asks Consul to wait a minute and is given up
// 1 min 14 s after it is sent (the wait, Consul's jitter of up to a 16th of
// it, and 10 s): an agent that holds the query and never answers shows as a
// watch error that soon, where Consul's default of 5 minutes hid it for
// 5 min 29 s.
func TestKVWatcherGivesUpABlockingQueryWithinAMinuteAndAQuarter(t *testing.T) {
	kv := &fakeKV{calls: make(chan kvCall)}
	w := NewKVWatcher(kv, "consul://test/sluice/config", "sluice/config")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go w.query(ctx, 7)
	c := <-kv.calls
	if c.q.WaitTime != time.Minute || c.q.WaitIndex != 7 {
		t.Errorf("the query waits %v from index %d, want 1m from 7", c.q.WaitTime, c.q.WaitIndex)
	}
	d, ok := c.q.Context().Deadline()
	if left := time.Until(d); !ok || left > 74*time.Second || left < 73*time.Second {
		t.Errorf("the query is given up %v after it is sent, want 1m13.75s", left)
	}
	c.reply <- kvReply{err: errors.New("done")}
}
