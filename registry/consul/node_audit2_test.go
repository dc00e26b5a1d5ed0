package consul

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/sluicehq/sluice/registry"
)

// muxAgent serves /v1/health/service/ and /v1/kv/ behind net/http's
// ServeMux, which cleans a request's path and redirects to the cleaned one
// as Consul's HTTP server does: the health endpoint answers one node of the
// service named by the rest of the path, at port 80 for "web" and 81 for
// any other name.
type muxAgent struct {
	mu    sync.Mutex
	paths []string // the path of every request that reached a handler
}

func (m *muxAgent) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/health/service/", func(w http.ResponseWriter, r *http.Request) {
		m.note(r)
		name := strings.TrimPrefix(r.URL.Path, "/v1/health/service/")
		port := 81
		if name == "web" {
			port = 80
		}
		w.Header().Set("X-Consul-Index", "5")
		fmt.Fprintf(w, `[{"Node":{"Node":"n1","Address":"10.0.0.1","Datacenter":"dc1"},"Service":{"ID":%q,"Service":%q,"Port":%d}}]`, name, name, port)
	})
	mux.HandleFunc("/v1/kv/", func(w http.ResponseWriter, r *http.Request) {
		m.note(r)
		fmt.Fprint(w, `[{"Key":"secret","Value":"aHVzaA=="}]`)
	})
	return mux
}

func (m *muxAgent) note(r *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.paths = append(m.paths, r.URL.Path)
}

func (m *muxAgent) seen() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.paths...)
}

func newMuxRegistry(t *testing.T) (*Registry, *muxAgent) {
	t.Helper()
	m := &muxAgent{}
	srv := httptest.NewServer(m.handler())
	t.Cleanup(srv.Close)
	c, err := api.NewClient(&api.Config{Address: srv.Listener.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	r := New(c, WithWaitTime(time.Minute))
	clock := newFakeClock(true)
	clock.use(r)
	return r, m
}

// A service name from the configuration goes into the path of Consul's
// health endpoint. The client escapes '?', '#' and '%' (Consul decodes them
// back) but not '/', and Consul's server redirects a path with dot segments
// or doubled slashes to its cleaned form, which the client follows: the
// nodes of "x/../web" were web's, and "../../kv/secret" read the key-value
// store. Such names are refused, without a request, and so is the empty
// name (Consul answers it 400 "Missing service name").
func TestAudit2ServiceNamesThatConsulWouldRedirectAreRefused(t *testing.T) {
	for _, name := range []string{"x/../web", "../../kv/secret", "./web", "web/.", "web/..", "a//web", "/web", "web//", "/", ""} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			r, m := newMuxRegistry(t)
			nodes, err := r.Lookup(context.Background(), name)
			if !errors.Is(err, ErrServiceName) {
				t.Errorf("Lookup(%q) = %v, %v; want ErrServiceName", name, nodes, err)
			}
			snap, err := r.Watch(context.Background(), name, 0)
			if !errors.Is(err, ErrServiceName) {
				t.Errorf("Watch(%q, 0) = %+v, %v; want ErrServiceName", name, snap, err)
			}
			if _, err := r.Watch(context.Background(), name, 7); !errors.Is(err, ErrServiceName) {
				t.Errorf("Watch(%q, 7): %v; want ErrServiceName", name, err)
			}
			if p := m.seen(); len(p) != 0 {
				t.Errorf("Consul was asked %v", p)
			}
		})
	}
}

// Names Consul serves as they are reach its health endpoint as they are.
func TestAudit2ServiceNamesReachConsulIntact(t *testing.T) {
	for _, name := range []string{"web", "a/b", "web/", "a?b", "a#b", "a%2Fb", "a%2e%2e", "a b", "..a", "a..", "a/.b"} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			r, m := newMuxRegistry(t)
			nodes, err := r.Lookup(context.Background(), name)
			if err != nil || len(nodes) != 1 || nodes[0].Service != name {
				t.Fatalf("Lookup(%q) = %v, %v; want the one node of %q", name, nodes, err, name)
			}
			if p := m.seen(); len(p) != 1 || p[0] != "/v1/health/service/"+name {
				t.Fatalf("Consul was asked %q, want the path of %q alone", p, name)
			}
		})
	}
}

// Hosts that no dial should reach are skipped: an unspecified address (as
// a node's address, which an empty service address falls back to, Consul
// keeps it; dialled, it reaches the gateway's own host), and names or IPv6
// zones with bytes no host name or interface name has. Ports outside
// 1-65535, which Consul keeps, are skipped too.
func TestAudit2NodeFromEntrySkipsHostsNoDialShouldReach(t *testing.T) {
	entry := func(nodeAddr, addr string, port int) *api.ServiceEntry {
		return &api.ServiceEntry{
			Node:    &api.Node{Node: "n1", Address: nodeAddr, Datacenter: "dc1"},
			Service: &api.AgentService{ID: "x", Service: "api", Address: addr, Port: port},
		}
	}
	for _, tc := range []struct {
		nodeAddr, addr string
		port           int
		want           string // the node's Address; "" when skipped
	}{
		{"0.0.0.0", "", 80, ""},
		{"::", "", 80, ""},
		{"10.0.0.1", "0.0.0.0", 80, ""},
		{"10.0.0.1", "::", 80, ""},
		{"10.0.0.1", "::ffff:0.0.0.0", 80, ""},
		{"10.0.0.1", "api\n.internal", 80, ""},
		{"10.0.0.1", "api\r\nX-Evil: 1", 80, ""},
		{"10.0.0.1", "api\x00", 80, ""},
		{"10.0.0.1", "api\u00a0x", 80, ""},
		{"10.0.0.1", "api,internal", 80, ""},
		{"10.0.0.1", strings.Repeat("a", 300), 80, ""},
		{"10.0.0.1", "fe80::1%eth0:80", 80, ""},
		{"10.0.0.1", "fe80::1%eth 0", 80, ""},
		{"10.0.0.1", "fe80::1%eth\n0", 80, ""},
		{"10.0.0.1", "10.0.0.2", 0, ""},
		{"10.0.0.1", "10.0.0.2", -1, ""},
		{"10.0.0.1", "10.0.0.2", 70000, ""},
		{"10.0.0.1", "", 80, "10.0.0.1:80"},
		{"10.0.0.1", "fe80::1%eth0", 80, "[fe80::1%eth0]:80"},
		{"10.0.0.1", "fe80::1%2", 80, "[fe80::1%2]:80"},
		{"10.0.0.1", "my_host-1.example.", 80, "my_host-1.example.:80"},
		{"10.0.0.1", "127.0.0.1", 65535, "127.0.0.1:65535"},
	} {
		n, ok := NodeFromEntry(entry(tc.nodeAddr, tc.addr, tc.port))
		switch {
		case tc.want == "" && ok:
			t.Errorf("node %q, service %q, port %d: got node %q, want it skipped", tc.nodeAddr, tc.addr, tc.port, n.Address)
		case tc.want != "" && (!ok || n.Address != tc.want):
			t.Errorf("node %q, service %q, port %d: got %v, %v; want %q", tc.nodeAddr, tc.addr, tc.port, n, ok, tc.want)
		}
	}
}

// An instance that Consul lists twice (registered from two Consul nodes
// with one ID and address) is one node, not two that double its share of
// the traffic and its weight in every state kept by Key.
func TestAudit2DuplicateEntriesAreOneNode(t *testing.T) {
	s := &stubAgent{}
	s.set(http.StatusOK, "5", `[
{"Node":{"Node":"old-name","Address":"10.0.0.1"},"Service":{"ID":"a1","Service":"api","Address":"10.0.0.1","Port":80,"Meta":{"v":"1"}}},
{"Node":{"Node":"new-name","Address":"10.0.0.1"},"Service":{"ID":"a1","Service":"api","Address":"10.0.0.1","Port":80,"Meta":{"v":"2"}}},
{"Node":{"Node":"n2","Address":"10.0.0.2"},"Service":{"ID":"a2","Service":"api","Port":80}},
{"Node":{"Node":"n3","Address":"10.0.0.3"},"Service":{"ID":"a1","Service":"api","Port":80}}]`)
	r, _ := newStubRegistry(t, s)
	// describe returns the nodes' keys and the Meta "v" of the one listed
	// twice.
	describe := func(nodes []*registry.Node) (keys []string, v string) {
		for _, n := range nodes {
			keys = append(keys, n.Key())
			if n.ID == "a1" && n.Address == "10.0.0.1:80" {
				v = n.Metadata["v"]
			}
		}
		return keys, v
	}
	nodes, err := r.Lookup(context.Background(), "api")
	if err != nil {
		t.Fatal(err)
	}
	snap, err := r.Watch(context.Background(), "api", 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"api/a1@10.0.0.1:80", "api/a1@10.0.0.3:80", "api/a2@10.0.0.2:80"}
	for call, got := range map[string][]*registry.Node{"Lookup": nodes, "Watch": snap.Nodes} {
		keys, v := describe(got)
		if fmt.Sprint(keys) != fmt.Sprint(want) {
			t.Errorf("%s = %v, want %v", call, keys, want)
		}
		if v != "1" {
			t.Errorf("%s kept the duplicate with v=%q, want the first in Consul's answer (v=1)", call, v)
		}
	}
}
