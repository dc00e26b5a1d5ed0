package upstream_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/selector"
	"github.com/sluicehq/sluice/upstream"
)

// swapDisc serves whatever node slice it holds now.
type swapDisc struct {
	nodes atomic.Pointer[[]*registry.Node]
}

func (d *swapDisc) Lookup(context.Context, string) ([]*registry.Node, error) {
	return *d.nodes.Load(), nil
}

type okTransport struct{}

func (okTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(strings.NewReader("ok")),
		Request: r, ProtoMajor: 1, ProtoMinor: 1}, nil
}

// catalog returns n fresh nodes, as each discovery answer holds (every
// answer from Consul decodes new Node values).
func catalog(n int, skip int) []*registry.Node {
	out := make([]*registry.Node, 0, n)
	for i := 0; i < n; i++ {
		if i == skip {
			continue
		}
		out = append(out, &registry.Node{ID: fmt.Sprintf("big-%05d", i), Service: service,
			Address: fmt.Sprintf("10.%d.%d.%d:8080", i>>16&255, i>>8&255, i&255)})
	}
	return out
}

// TestAuditHugeCatalogChangeCost: the request that first sees a new
// snapshot of a large service works out which nodes left and which came
// (to close the connections of the first and forgive the second). Pair by
// pair, that cost it 163 ms at 5,000 nodes and 2.66 s at 20,000 (without
// -race; 19 s with it) on every change of the catalog: with 20,000 nodes,
// a request given 2 s ran out of budget before it was sent. It must cost
// about the snapshot's size.
func TestAuditHugeCatalogChangeCost(t *testing.T) {
	const n = 20000
	d := &swapDisc{}
	first := catalog(n, -1)
	d.nodes.Store(&first)
	c := upstream.New(d, upstream.WithTransport(okTransport{}))
	call := func() (time.Duration, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+service+"/x", nil)
		start := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			return time.Since(start), err
		}
		resp.Body.Close()
		return time.Since(start), nil
	}
	if _, err := call(); err != nil {
		t.Fatal(err)
	}
	next := catalog(n, n/2)
	d.nodes.Store(&next)
	took, err := call()
	t.Logf("n=%d: the call that saw one node gone took %v", n, took)
	if err != nil {
		t.Fatalf("the call that saw the catalog change: %v", err)
	}
}

// TestAuditHugeCatalogOfVersionsCost: the picker of a snapshot builds one
// picker per version (and version prefix) its nodes run, and shared the
// pickers of equal groups by comparing each group with every one built
// before: when each node runs a version of its own (a build number), that
// is quadratic in the nodes. The request that saw a snapshot of 5,000 such
// nodes paid 175 ms for it, one of 20,000 1.9 s (without -race), and ran
// out of a 2 s budget under -race.
func TestAuditHugeCatalogOfVersionsCost(t *testing.T) {
	const n = 20000
	d := &swapDisc{}
	nodes := catalog(n, -1)
	for i, x := range nodes {
		x.Version = fmt.Sprintf("1.0.%d", i)
	}
	d.nodes.Store(&nodes)
	c := upstream.New(d, upstream.WithTransport(okTransport{}))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+service+"/x", nil)
	start := time.Now()
	resp, err := c.Do(req)
	t.Logf("n=%d nodes of distinct versions: the first call took %v", n, time.Since(start))
	if err != nil {
		t.Fatalf("the first call over the snapshot: %v", err)
	}
	resp.Body.Close()
}

// TestAuditFirstCallsToAHugeCatalogCopyNoTables: a node's concurrency
// limit (on by default), and its load under a strategy other than
// least_loaded, were added to their tables at its first call, each
// addition a copy of the whole table: the first calls to the 20,000 nodes
// of a service copied 200 million entries between them, 10 s of CPU under
// the lock each first call takes (41 s with round_robin, both tables). The
// client now adds a snapshot's nodes in one copy. Counted in bytes
// allocated, not in time: the calls that reached 5,000 nodes allocated
// 1.4 GiB (32 KiB a call) with least_loaded, 2.0 GiB (415 KiB a call) with
// round_robin; now about 3 KiB a call.
func TestAuditFirstCallsToAHugeCatalogCopyNoTables(t *testing.T) {
	const n = 5000
	for _, tc := range []struct {
		name string
		opts []upstream.Option
	}{
		{"least_loaded", nil},
		{"round_robin", []upstream.Option{upstream.WithStrategy(selector.RoundRobin)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &swapDisc{}
			nodes := catalog(n, -1)
			d.nodes.Store(&nodes)
			c := upstream.New(d, append([]upstream.Option{upstream.WithTransport(okTransport{})}, tc.opts...)...)
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			seen := map[string]bool{}
			calls := 0
			for ; len(seen) < n; calls++ {
				if calls > 50*n {
					t.Fatalf("%d calls reached only %d of %d nodes", calls, len(seen), n)
				}
				req, _ := http.NewRequest("GET", "http://"+service+"/x", nil)
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				seen[resp.Request.URL.Host] = true
				resp.Body.Close()
			}
			runtime.ReadMemStats(&after)
			alloc := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d calls to reach %d nodes allocated %d MiB, %d bytes a call", calls, n, alloc>>20, alloc/uint64(calls))
			if perCall := alloc / uint64(calls); perCall > 16<<10 {
				t.Errorf("%d calls to reach %d nodes allocated %d bytes a call, want a few KiB: a table copied per node",
					calls, n, perCall)
			}
		})
	}
}

// servicesDisc serves each service's nodes from a map it never changes
// while calls run.
type servicesDisc map[string][]*registry.Node

func (d servicesDisc) Lookup(_ context.Context, s string) ([]*registry.Node, error) { return d[s], nil }

// TestAuditFirstCallsToManyServicesCopyNoTables: the concurrency limits
// (on by default) and the loads of least_loaded kept one table of every
// node of every service, which a snapshot with nodes it lacked copied
// whole: the first call to each of many small services copied the nodes of
// all the services called before. The first calls to 8,000 services of
// three nodes each took 22 s and allocated 11 GiB (1.4 MiB a call); 5,000
// of them 956 KiB a call, and a deploy that then replaced the nodes of
// each 2.5 MiB a call (30 s in all). Each copy is now of one service's
// table: 27 KiB a call, 6 KiB after the deploy (the per-service state each first call makes, and the copies of
// the maps by service name up to rmap.MaxCopied names). Counted in bytes
// allocated, not in time.
func TestAuditFirstCallsToManyServicesCopyNoTables(t *testing.T) {
	const services, per = 5000, 3
	nodesOf := func(s string, gen int) []*registry.Node {
		out := make([]*registry.Node, per)
		for j := range out {
			out[j] = &registry.Node{ID: fmt.Sprintf("%s-%d-%d", s, gen, j), Service: s,
				Address: fmt.Sprintf("10.%d.%d.%d:8080", gen, len(s)&255, j+1)}
		}
		return out
	}
	names := make([]string, services)
	d := servicesDisc{}
	for i := range names {
		names[i] = fmt.Sprintf("svc-%05d", i)
		d[names[i]] = nodesOf(names[i], 0)
	}
	c := upstream.New(d, upstream.WithTransport(okTransport{}))
	callAll := func() {
		for _, s := range names {
			req, _ := http.NewRequest("GET", "http://"+s+"/x", nil)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
		}
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	callAll()
	runtime.ReadMemStats(&after)
	first := (after.TotalAlloc - before.TotalAlloc) / services
	// A deploy: every service's nodes replaced, each service's next call
	// sees a snapshot of new nodes.
	for _, s := range names {
		d[s] = nodesOf(s, 1)
	}
	runtime.ReadMemStats(&before)
	callAll()
	runtime.ReadMemStats(&after)
	deploy := (after.TotalAlloc - before.TotalAlloc) / services
	t.Logf("%d services of %d nodes: first calls %d KiB a call, after a deploy %d KiB a call", services, per, first>>10, deploy>>10)
	if first > 128<<10 || deploy > 128<<10 {
		t.Errorf("a call that saw its service's new nodes allocated %d KiB (first calls), %d KiB (after a deploy), "+
			"want a few dozen: a table of every service's nodes copied per service", first>>10, deploy>>10)
	}
}
