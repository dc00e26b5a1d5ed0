package consul

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/sluicehq/sluice/registry"
)

// stubAgent imitates Consul's /v1/health/service endpoint with an answer the
// test scripts: it never blocks, as a misbehaving agent or a proxy might not.
type stubAgent struct {
	mu      sync.Mutex
	index   string // X-Consul-Index to send; "" sends none
	body    string
	status  int
	indexes []string // ?index= of every request
}

func (s *stubAgent) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.indexes = append(s.indexes, r.URL.Query().Get("index"))
	if s.index != "" {
		w.Header().Set("X-Consul-Index", s.index)
	}
	w.Header().Set("X-Consul-LastContact", "0")
	w.Header().Set("X-Consul-KnownLeader", "true")
	w.WriteHeader(s.status)
	fmt.Fprint(w, s.body)
}

func (s *stubAgent) set(status int, index, body string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.index, s.body = status, index, body
}

func (s *stubAgent) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.indexes...)
}

const oneNode = `[{"Node":{"Node":"n1","Address":"10.0.0.1","Datacenter":"dc1"},"Service":{"ID":"a1","Service":"api","Port":80}}]`

// newStubRegistry returns a Registry over s whose clock stands still, so that
// every answer is "at once", and a channel of the pauses Watch asked for.
func newStubRegistry(t *testing.T, s *stubAgent) (*Registry, <-chan time.Duration) {
	t.Helper()
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c, err := api.NewClient(&api.Config{Address: srv.Listener.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	r := New(c, WithWaitTime(time.Minute))
	fixed := time.Unix(1_000_000, 0)
	paused := make(chan time.Duration, 16)
	r.now = func() time.Time { return fixed }
	r.after = func(d time.Duration) <-chan time.Time {
		select {
		case paused <- d:
		default: // a cache test polls on: only the first pauses matter
		}
		ch := make(chan time.Time, 1)
		ch <- fixed
		return ch
	}
	return r, paused
}

// An agent that answers a blocking query at once without moving the index (a
// Consul bug that sends index 0, a proxy that strips X-Consul-Index or does not
// block) must not be polled in a busy loop: Watch takes MinWatchInterval.
func TestAuditWatchPacesAnswersThatDoNotMoveTheIndex(t *testing.T) {
	for _, tc := range []struct {
		name  string
		index string
		asked uint64
	}{
		{"same index", "7", 7},
		{"index zero", "0", 1},
		{"no index header", "", 1},
		{"garbage index header", "abc", 1}, // the api client ignores it: 0
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &stubAgent{}
			s.set(http.StatusOK, tc.index, oneNode)
			r, paused := newStubRegistry(t, s)
			snap, err := r.Watch(context.Background(), "api", tc.asked)
			if err != nil || snap.Index != tc.asked || len(snap.Nodes) != 1 {
				t.Fatalf("Watch = %+v, %v", snap, err)
			}
			select {
			case d := <-paused:
				if d != MinWatchInterval {
					t.Fatalf("paused %s, want %s", d, MinWatchInterval)
				}
			default:
				t.Fatal("an unchanged answer that came at once was not paced: the cache would spin")
			}
		})
	}
}

// Answers that bring news return at once: a moved index, the first query
// (index 0), and an index that went backwards (a restored Raft snapshot, whose
// nodes the cache must take, and whose lower index it then blocks on).
func TestAuditWatchDoesNotPaceNews(t *testing.T) {
	for _, tc := range []struct {
		name  string
		index string
		asked uint64
		want  uint64
	}{
		{"moved", "8", 7, 8},
		{"first", "7", 0, 7},
		{"backwards", "3", 700, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &stubAgent{}
			s.set(http.StatusOK, tc.index, oneNode)
			r, paused := newStubRegistry(t, s)
			snap, err := r.Watch(context.Background(), "api", tc.asked)
			if err != nil || snap.Index != tc.want {
				t.Fatalf("Watch = %+v, %v; want index %d", snap, err, tc.want)
			}
			if len(paused) != 0 {
				t.Fatalf("paced an answer that was news")
			}
		})
	}
}

// 500s and garbage JSON are errors (the cache keeps its last good nodes and
// backs off), never an empty node set; the watch recovers when the agent does.
func TestAuditWatchErrorsThenRecovers(t *testing.T) {
	s := &stubAgent{}
	s.set(http.StatusOK, "5", oneNode)
	r, _ := newStubRegistry(t, s)
	c := registry.NewCache(r, registry.WithBackoff(time.Millisecond, time.Millisecond))
	t.Cleanup(func() { c.Close() })
	if nodes, err := c.Lookup(context.Background(), "api"); err != nil || len(nodes) != 1 {
		t.Fatalf("Lookup = %v, %v", nodes, err)
	}
	for _, bad := range []struct {
		status      int
		index, body string
	}{
		{http.StatusInternalServerError, "", "No cluster leader"},
		{http.StatusOK, "6", `[{"Node":`},
		{http.StatusOK, "6", `{"not":"a list"}`},
	} {
		s.set(bad.status, bad.index, bad.body)
		waitFor(t, fmt.Sprintf("an error from %d %q", bad.status, bad.body), func() bool {
			st := c.Status()
			return len(st) == 1 && st[0].LastError != nil
		})
		if nodes, err := c.Lookup(context.Background(), "api"); err != nil || len(nodes) != 1 {
			t.Fatalf("during %d %q: Lookup = %v, %v; want the last good node", bad.status, bad.body, nodes, err)
		}
		s.set(http.StatusOK, "9", oneNode)
		waitFor(t, "recovery", func() bool {
			st := c.Status()
			return len(st) == 1 && st[0].LastError == nil && st[0].Index == 9
		})
	}
}

// A 10,000-node answer maps to 10,000 nodes, each once.
func TestAuditWatchLargeAnswer(t *testing.T) {
	const n = 10_000
	b := []byte("[")
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = fmt.Appendf(b, `{"Node":{"Node":"n%d","Address":"10.%d.%d.%d","Datacenter":"dc1"},"Service":{"ID":"a%d","Service":"api","Port":8080,"Meta":{"version":"1.0.0"}}}`,
			i, i>>16, (i>>8)&255, i&255, i)
	}
	b = append(b, ']')
	s := &stubAgent{}
	s.set(http.StatusOK, "5", string(b))
	r, _ := newStubRegistry(t, s)
	snap, err := r.Watch(context.Background(), "api", 0)
	if err != nil || len(snap.Nodes) != n {
		t.Fatalf("Watch = %d nodes, %v", len(snap.Nodes), err)
	}
	seen := make(map[string]bool, n)
	for _, nd := range snap.Nodes {
		if seen[nd.Key()] {
			t.Fatalf("duplicate %s", nd.Key())
		}
		seen[nd.Key()] = true
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// A Service.Address that is not a host (one that carries its own port, a URL,
// brackets) is skipped like an entry without an address, not turned into a
// node no dial can reach; IPv6, zones and names are kept.
func TestAuditNodeFromEntryRejectsAddressesThatAreNotHosts(t *testing.T) {
	node := &api.Node{Node: "n1", Address: "10.0.0.1", Datacenter: "dc1"}
	for addr, ok := range map[string]bool{
		"10.0.0.1:8080":   false,
		"http://10.0.0.1": false,
		"[::1]":           false,
		"10.0.0.0/24":     false,
		"::1":             true,
		"fe80::1%eth0":    true,
		"api.internal":    true,
		"10.1.1.1":        true,
	} {
		e := &api.ServiceEntry{Node: node, Service: &api.AgentService{ID: "x", Service: "api", Address: addr, Port: 80}}
		if n, got := NodeFromEntry(e); got != ok {
			t.Errorf("Address %q: node %+v, ok %v; want ok %v", addr, n, got, ok)
		}
	}
}
