package registry

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"sync"
	"testing"
	"time"
)

// fakeDNS answers lookups from a table that tests change; a name it lacks
// is not found.
type fakeDNS struct {
	mu      sync.Mutex
	answers map[string][]netip.Addr
	fail    map[string]error
	asked   []string
}

func (f *fakeDNS) LookupNetIP(_ context.Context, network, host string) ([]netip.Addr, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.asked = append(f.asked, host)
	if network != "ip" {
		return nil, errors.New("unexpected network " + network)
	}
	if err := f.fail[host]; err != nil {
		return nil, err
	}
	a, ok := f.answers[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	return a, nil
}

func (f *fakeDNS) set(host string, addrs ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var as []netip.Addr
	for _, s := range addrs {
		as = append(as, netip.MustParseAddr(s))
	}
	f.answers[host] = as
	delete(f.fail, host)
}

func (f *fakeDNS) failWith(host string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[host] = err
}

func newFakeDNS() *fakeDNS {
	return &fakeDNS{answers: map[string][]netip.Addr{}, fail: map[string]error{}}
}

func addresses(t *testing.T, st *Static, service string) []string {
	t.Helper()
	nodes, err := st.Lookup(context.Background(), service)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range nodes {
		out = append(out, n.Address)
	}
	return out
}

func indexOf(t *testing.T, st *Static, service string) uint64 {
	t.Helper()
	snap, err := st.Watch(context.Background(), service, 0)
	if err != nil {
		t.Fatal(err)
	}
	return snap.Index
}

func TestANameIsOneNodeAnAddress(t *testing.T) {
	dns := newFakeDNS()
	dns.set("orders.internal", "10.0.0.3", "10.0.0.1", "10.0.0.2", "10.0.0.1")
	st, _ := NewStatic()
	names := NewNames(st, NamesOptions{Resolver: dns})
	names.Set(context.Background(), "orders", []*Node{
		{Service: "orders", Address: "orders.internal:8080", Version: "1.2.0", Metadata: map[string]string{"zone": "a"}},
		{Service: "orders", Address: "10.0.0.9:8080"},
		{Service: "orders", Address: "10.0.0.2:8080"}, // the name gave it already
	})
	nodes, _ := st.Lookup(context.Background(), "orders")
	got := addresses(t, st, "orders")
	want := []string{"10.0.0.1:8080", "10.0.0.2:8080", "10.0.0.3:8080", "10.0.0.9:8080"}
	if !slices.Equal(got, want) {
		t.Fatalf("nodes %v, want %v", got, want)
	}
	keys := map[string]bool{}
	for _, n := range nodes[:3] {
		if n.Version != "1.2.0" || n.Metadata["zone"] != "a" || n.Service != "orders" {
			t.Errorf("node %v lost its entry's fields: %+v", n, n)
		}
		keys[n.Key()] = true
	}
	if len(keys) != 3 {
		t.Errorf("the name's nodes share keys: %v", keys)
	}
}

func TestANameWithBothFamiliesIsItsIPv4Nodes(t *testing.T) {
	dns := newFakeDNS()
	dns.set("localhost", "::1", "127.0.0.1")
	dns.set("v6only", "2001:db8::2", "2001:db8::1")
	dns.set("mapped", "::ffff:10.1.1.1")
	st, _ := NewStatic()
	names := NewNames(st, NamesOptions{Resolver: dns})
	names.Set(context.Background(), "a", []*Node{{Service: "a", Address: "localhost:80"}})
	names.Set(context.Background(), "b", []*Node{{Service: "b", Address: "v6only:80"}})
	names.Set(context.Background(), "c", []*Node{{Service: "c", Address: "mapped:80"}})
	for service, want := range map[string][]string{
		"a": {"127.0.0.1:80"}, "b": {"[2001:db8::1]:80", "[2001:db8::2]:80"}, "c": {"10.1.1.1:80"},
	} {
		if got := addresses(t, st, service); !slices.Equal(got, want) {
			t.Errorf("%s: nodes %v, want %v", service, got, want)
		}
	}
}

func TestRefreshFollowsTheNameAndKeepsTheLastAnswerThroughFailures(t *testing.T) {
	dns := newFakeDNS()
	dns.set("orders", "10.0.0.1", "10.0.0.2")
	st, _ := NewStatic()
	type change struct {
		addrs int
		err   bool
	}
	var told []change
	names := NewNames(st, NamesOptions{Resolver: dns, OnChange: func(_ string, addrs []netip.Addr, err error) {
		told = append(told, change{len(addrs), err != nil})
	}})
	ctx := context.Background()
	names.Set(ctx, "orders", []*Node{{Service: "orders", Address: "orders:8080"}})
	index := indexOf(t, st, "orders")

	names.Refresh(ctx) // the same answer: no change
	if i := indexOf(t, st, "orders"); i != index {
		t.Errorf("an unchanged answer set the nodes again (index %d to %d)", index, i)
	}

	dns.set("orders", "10.0.0.2", "10.0.0.3")
	names.Refresh(ctx)
	if got, want := addresses(t, st, "orders"), []string{"10.0.0.2:8080", "10.0.0.3:8080"}; !slices.Equal(got, want) {
		t.Fatalf("after a change: %v, want %v", got, want)
	}

	dns.failWith("orders", errors.New("server misbehaving"))
	names.Refresh(ctx)
	names.Refresh(ctx)
	dns.set("orders") // an answer without an address
	names.Refresh(ctx)
	if got, want := addresses(t, st, "orders"), []string{"10.0.0.2:8080", "10.0.0.3:8080"}; !slices.Equal(got, want) {
		t.Fatalf("a failing name lost its nodes: %v, want %v", got, want)
	}

	dns.set("orders", "10.0.0.2", "10.0.0.3")
	names.Refresh(ctx)
	want := []change{{2, false}, {2, false}, {2, true}, {2, true}, {2, false}}
	if !slices.Equal(told, want) {
		t.Errorf("told %v, want %v (each change once)", told, want)
	}
}

func TestANameThatNeverResolvedGivesNoNodeUntilItDoes(t *testing.T) {
	dns := newFakeDNS()
	st, _ := NewStatic()
	names := NewNames(st, NamesOptions{Resolver: dns})
	ctx := context.Background()
	names.Set(ctx, "orders", []*Node{{Service: "orders", Address: "orders:8080"}, {Service: "orders", Address: "10.0.0.9:8080"}})
	if got := addresses(t, st, "orders"); !slices.Equal(got, []string{"10.0.0.9:8080"}) {
		t.Fatalf("nodes %v, want the address alone", got)
	}
	dns.set("orders", "10.0.0.1")
	names.Refresh(ctx)
	if got := addresses(t, st, "orders"); !slices.Equal(got, []string{"10.0.0.1:8080", "10.0.0.9:8080"}) {
		t.Fatalf("nodes %v once the name resolves", got)
	}
}

func TestSetLooksUpOnlyNewNamesAndForgetsDroppedOnes(t *testing.T) {
	dns := newFakeDNS()
	dns.set("a", "10.0.0.1")
	dns.set("b", "10.0.0.2")
	st, _ := NewStatic()
	names := NewNames(st, NamesOptions{Resolver: dns})
	ctx := context.Background()
	names.Set(ctx, "a", []*Node{{Service: "a", Address: "a:1"}})
	names.Set(ctx, "a", []*Node{{Service: "a", Address: "a:1"}}) // a reload, the same name
	names.Set(ctx, "b", []*Node{{Service: "b", Address: "b:1"}})
	if !slices.Equal(dns.asked, []string{"a", "b"}) {
		t.Errorf("asked %v, want each new name once", dns.asked)
	}
	names.Set(ctx, "a", nil)
	if got := addresses(t, st, "a"); len(got) != 0 {
		t.Errorf("a dropped service kept %v", got)
	}
	dns.asked = nil
	names.Refresh(ctx)
	if !slices.Equal(dns.asked, []string{"b"}) {
		t.Errorf("a refresh asked %v, want the names still listed", dns.asked)
	}
}

// gatedDNS holds the lookups of one name until released, so that a test
// can act while a refresh waits on it.
type gatedDNS struct {
	*fakeDNS
	host    string
	entered chan struct{}
	release chan struct{}
}

func (g *gatedDNS) LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error) {
	if host == g.host {
		g.entered <- struct{}{}
		<-g.release
	}
	return g.fakeDNS.LookupNetIP(ctx, network, host)
}

func TestANameAReloadAddsDuringARefreshKeepsItsAddressesThroughAFailure(t *testing.T) {
	dns := &gatedDNS{fakeDNS: newFakeDNS(), host: "a", entered: make(chan struct{}), release: make(chan struct{})}
	dns.set("a", "10.0.0.1")
	dns.set("b", "10.0.0.2")
	st, _ := NewStatic()
	names := NewNames(st, NamesOptions{Resolver: dns})
	ctx := context.Background()
	go func() { <-dns.entered; dns.release <- struct{}{} }() // Set's own lookup of a
	names.Set(ctx, "a", []*Node{{Service: "a", Address: "a:1"}})

	refreshed := make(chan struct{})
	go func() { names.Refresh(ctx); close(refreshed) }()
	<-dns.entered // the refresh waits on a, having listed the names before b
	names.Set(ctx, "b", []*Node{{Service: "b", Address: "b:1"}})
	dns.release <- struct{}{}
	<-refreshed
	if got := addresses(t, st, "b"); !slices.Equal(got, []string{"10.0.0.2:1"}) {
		t.Fatalf("b's nodes %v after the reload", got)
	}

	// DNS fails, and the file is applied again (a SIGHUP): b's last
	// addresses serve, as any name's do.
	dns.failWith("b", errors.New("server misbehaving"))
	names.Set(ctx, "b", []*Node{{Service: "b", Address: "b:1"}})
	if got := addresses(t, st, "b"); !slices.Equal(got, []string{"10.0.0.2:1"}) {
		t.Errorf("a name set during a refresh, then failing, left nodes %v, want its last addresses", got)
	}
}

// barrierDNS answers a lookup only once want lookups are under way at
// once, and fails it at its deadline otherwise.
type barrierDNS struct {
	mu      sync.Mutex
	waiting int
	want    int
	all     chan struct{}
}

func (b *barrierDNS) LookupNetIP(ctx context.Context, _, _ string) ([]netip.Addr, error) {
	b.mu.Lock()
	if b.waiting++; b.waiting == b.want {
		close(b.all)
	}
	b.mu.Unlock()
	select {
	case <-b.all:
		return []netip.Addr{netip.MustParseAddr("10.0.0.1")}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// TestSetAllLooksTheNewNamesOfEveryServiceUpAtOnce: a start or a reload
// gives every service at once, and their new names are looked up together,
// so that with DNS servers that do not answer it waits one lookup timeout,
// not one a service. The resolver answers only when the three lookups are
// under way together; one service after another, each would time out.
func TestSetAllLooksTheNewNamesOfEveryServiceUpAtOnce(t *testing.T) {
	dns := &barrierDNS{want: 3, all: make(chan struct{})}
	st, _ := NewStatic()
	names := NewNames(st, NamesOptions{Resolver: dns, Timeout: 5 * time.Second})
	names.SetAll(context.Background(), map[string][]*Node{
		"a": {{Service: "a", Address: "a.test:1"}},
		"b": {{Service: "b", Address: "b.test:1"}},
		"c": {{Service: "c", Address: "c.test:1"}, {Service: "c", Address: "a.test:2"}},
	})
	for service, want := range map[string][]string{"a": {"10.0.0.1:1"}, "b": {"10.0.0.1:1"}, "c": {"10.0.0.1:1", "10.0.0.1:2"}} {
		if got := addresses(t, st, service); !slices.Equal(got, want) {
			t.Errorf("%s: nodes %v, want %v", service, got, want)
		}
	}
}
