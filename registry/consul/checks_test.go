package consul

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// scriptedChecks answers checksEndpoint with its checks at its index (with
// none when the filter is changeFilter's), and fails every other query (a
// node's services).
type scriptedChecks struct {
	checks  []check
	index   uint64
	asked   []string
	filters []string // of the queries on checksEndpoint
}

func (s *scriptedChecks) Query(endpoint string, out any, q *api.QueryOptions) (*api.QueryMeta, error) {
	s.asked = append(s.asked, endpoint)
	if endpoint != checksEndpoint {
		return nil, errors.New("Unexpected response code: 500")
	}
	s.filters = append(s.filters, q.Filter)
	if q.Filter == changeFilter {
		*out.(*json.RawMessage) = json.RawMessage("[]")
	} else {
		*out.(*[]check) = append([]check(nil), s.checks...)
	}
	return &api.QueryMeta{LastIndex: s.index}, nil
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// A change of one service's check wakes that service's Watches alone; a
// change of a node check whose node's services cannot be read, or of a
// node whose name the path cannot carry, wakes every service's: when the
// shared watch cannot tell which services a change concerns, it asks about
// all of them.
func TestACheckChangeWakesItsServiceAndAnUnreadableNodeWakesEveryService(t *testing.T) {
	raw := &scriptedChecks{index: 5, checks: []check{
		{Node: "n1", CheckID: "serfHealth", Status: api.HealthPassing},
		{Node: "n1", CheckID: "check:a-1", ServiceName: "a", Status: api.HealthPassing, ModifyIndex: 4},
		{Node: "n/..", CheckID: "serfHealth", Status: api.HealthPassing},
	}}
	r := NewFrom(newFakeConsul(), newFakeConsul())
	s := newShared(r, raw)
	for _, service := range []string{"a", "b"} {
		s.services[service] = &sharedService{watchers: 1, changed: make(chan struct{})}
	}
	w := &checkWatch{s: s}
	ctx := context.Background()
	ask := func(index uint64) {
		t.Helper()
		if _, err := w.ask(ctx, index); err != nil {
			t.Fatal(err)
		}
	}
	all, a := s.current("a")
	ask(0)
	if !closed(all) {
		t.Fatal("the first answer on checks did not wake every service")
	}

	all, a = s.current("a")
	_, b := s.current("b")
	raw.index, raw.checks[1].Status, raw.checks[1].ModifyIndex = 6, api.HealthCritical, 6
	ask(5)
	if !closed(a) || closed(b) || closed(all) {
		t.Fatalf("a's check turned critical: a woken %v, b %v, every service %v; want a alone", closed(a), closed(b), closed(all))
	}

	for i, node := range []int{0, 2} {
		all, _ = s.current("a")
		raw.index++
		raw.checks[node].Status = []string{api.HealthCritical, api.HealthWarning}[i]
		ask(raw.index - 1)
		if !closed(all) {
			t.Fatalf("node %s's check changed, its services unknown (asked %v): every service not woken", raw.checks[node].Node, raw.asked)
		}
	}
	if n := strings.Count(strings.Join(raw.asked, " "), "/v1/catalog/node-services/"); n != 1 {
		t.Fatalf("asked %v: want one query of a node's services (n1's), none of a name the path cannot carry", raw.asked)
	}
}

// The checks' filter names the watched services and the node checks of
// their instances' nodes; every node check when a node's name cannot be
// written in it as it is, or naming the nodes would make it too long; no
// filter (every check) when a service's name cannot be written in it, or
// it would still be too long.
func TestTheChecksFilterNamesEveryServiceAndItsNodesOrNone(t *testing.T) {
	for _, c := range []struct {
		services, nodes []string
		max             int
		want            string
	}{
		{[]string{"a", "b-c"}, []string{"n1", "n2"}, maxChecksFilter,
			`(ServiceName == "" and (Node == "n1" or Node == "n2")) or ServiceName == "a" or ServiceName == "b-c"`},
		{[]string{"a"}, nil, maxChecksFilter, `ServiceName == "a"`},
		{nil, nil, maxChecksFilter, changeFilter},
		{[]string{"a"}, []string{"n1", `n"2`}, maxChecksFilter, `ServiceName == "" or ServiceName == "a"`},
		{[]string{"a"}, []string{"n1"}, 40, `ServiceName == "" or ServiceName == "a"`},
		{[]string{"a", "b"}, []string{"n1"}, 30, ""},
	} {
		if got := checksFilter(c.services, c.nodes, c.max); got != c.want {
			t.Errorf("checksFilter(%q, %q, %d) = %q, want %q", c.services, c.nodes, c.max, got, c.want)
		}
	}
	for _, odd := range []string{`a"b`, `a\b`, "a\nb"} {
		if got := checksFilter([]string{"a", odd}, []string{"n1"}, maxChecksFilter); got != "" {
			t.Fatalf("checksFilter with %q = %q, want no filter", odd, got)
		}
	}
	many := make([]string, maxChecksFilter/20)
	for i := range many {
		many[i] = strings.Repeat("s", 19) + string(rune('a'+i%26))
	}
	if got := checksFilter(many, nil, maxChecksFilter); got != "" {
		t.Fatalf("checksFilter of %d services is %d bytes, want no filter past %d", len(many), len(got), maxChecksFilter)
	}
}

// An answer on checks that holds more checks of no watched service (node
// checks, other services' checks) than there are watched services costs
// more than a round of their health queries: the watch still compares it,
// then probes (no check in the answer, and every service asked about on
// each move of the index), and asks for the checks again after
// checksRetry, or once the watched services have doubled.
func TestAChecksAnswerDearerThanARoundOfTheServicesTurnsTheWatchIntoAProbeForAWhile(t *testing.T) {
	raw := &scriptedChecks{index: 5, checks: []check{
		{Node: "n1", CheckID: "check:a-1", ServiceName: "a", Status: api.HealthPassing, ModifyIndex: 4},
		{Node: "n2", CheckID: "serfHealth", Status: api.HealthPassing},
	}}
	now := time.Unix(1000, 0)
	r := NewFrom(newFakeConsul(), newFakeConsul())
	r.now = func() time.Time { return now }
	s := newShared(r, raw)
	watch := func(service string) {
		s.services[service] = &sharedService{watchers: 1, changed: make(chan struct{})}
	}
	watch("a")
	w := &checkWatch{s: s}
	ask := func(index uint64) {
		t.Helper()
		if _, err := w.ask(context.Background(), index); err != nil {
			t.Fatal(err)
		}
	}
	lastFilter := func() string { return raw.filters[len(raw.filters)-1] }
	ask(0)
	if w.probing {
		t.Fatal("one node check for one watched service: probing, want the checks")
	}

	// a's check changes and a check of another service comes: two checks
	// that are not a's, for one watched service.
	all, a := s.current("a")
	raw.index, raw.checks[0].Status, raw.checks[0].ModifyIndex = 6, api.HealthCritical, 6
	raw.checks = append(raw.checks, check{Node: "n3", CheckID: "check:z-1", ServiceName: "z", Status: api.HealthPassing, ModifyIndex: 6})
	ask(5)
	if !closed(a) || closed(all) {
		t.Fatalf("a's check turned critical in an answer too big: a woken %v, every service %v; want a alone", closed(a), closed(all))
	}
	if !w.probing {
		t.Fatal("two checks not a's for one watched service: not probing")
	}

	all, _ = s.current("a")
	raw.index = 7
	ask(6)
	if lastFilter() != changeFilter || !closed(all) {
		t.Fatalf("probing, the index moved: filter %q, every service woken %v; want %q and every service", lastFilter(), closed(all), changeFilter)
	}
	all, _ = s.current("a")
	ask(7)
	if closed(all) {
		t.Fatal("probing, the index did not move: every service woken")
	}

	now = now.Add(checksRetry)
	all, _ = s.current("a")
	ask(7)
	if lastFilter() != checksFilter([]string{"a"}, nil, maxChecksFilter) || !closed(all) || !w.probing {
		t.Fatalf("after checksRetry: filter %q, every service woken %v, probing %v; want the checks, every service (no answer to compare with), then probing again",
			lastFilter(), closed(all), w.probing)
	}

	watch("b")
	ask(7)
	if lastFilter() != checksFilter([]string{"a", "b"}, nil, maxChecksFilter) {
		t.Fatalf("the watched services doubled: filter %q, want the checks", lastFilter())
	}
	if w.probing {
		t.Fatal("two checks not a's or b's for two watched services: probing, want the checks")
	}
}

// entriesHealth answers every health query with its entries, whether the
// query asks for passing ones only or not, and records passingOnly.
type entriesHealth struct {
	entries     []*api.ServiceEntry
	passingOnly []bool
}

func (h *entriesHealth) Service(_, _ string, passingOnly bool, _ *api.QueryOptions) ([]*api.ServiceEntry, *api.QueryMeta, error) {
	h.passingOnly = append(h.passingOnly, passingOnly)
	return h.entries, &api.QueryMeta{LastIndex: 7}, nil
}

// The shared watch's query of a service keeps the instances whose every
// check passes, as Consul's passing filter does, and names the nodes of
// all of them in the checks' filter: web-2, without a check of its own on
// a node whose check fails, is in no passing entry, and the return of its
// node's check to passing must reach the shared watch all the same.
func TestTheSharedWatchWatchesTheNodesOfFailingInstancesToo(t *testing.T) {
	entry := func(node, id string, statuses ...string) *api.ServiceEntry {
		e := &api.ServiceEntry{Node: &api.Node{Node: node, Address: "10.0.0.1"},
			Service: &api.AgentService{ID: id, Service: "web", Port: 80}}
		for i, status := range statuses {
			e.Checks = append(e.Checks, &api.HealthCheck{Node: node, CheckID: fmt.Sprint(i), Status: status})
		}
		return e
	}
	h := &entriesHealth{entries: []*api.ServiceEntry{
		entry("n1", "web-1", api.HealthPassing, api.HealthPassing),
		entry("n2", "web-2", api.HealthCritical),
		entry("n3", "web-3", api.HealthPassing, api.HealthWarning),
		entry("n4", "web-4"),
	}}
	r := NewFrom(h, newFakeConsul())
	r.shared = newShared(r, &scriptedChecks{})
	r.shared.services["web"] = &sharedService{watchers: 1, changed: make(chan struct{})} // joined, without starting the queries
	snap, err := r.fetchShared(context.Background(), "web")
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, n := range snap.Nodes {
		ids = append(ids, n.ID)
	}
	if got, want := strings.Join(ids, " "), "web-1 web-4"; got != want || snap.Index != 7 {
		t.Fatalf("the shared watch's query of web = %q at %d, want %q (every check passing) at 7", got, snap.Index, want)
	}
	if len(h.passingOnly) != 1 || h.passingOnly[0] {
		t.Fatalf("asked Consul with passingOnly %v, want one query of every instance", h.passingOnly)
	}
	services, nodes := r.shared.watched()
	want := `(ServiceName == "" and (Node == "n1" or Node == "n2" or Node == "n3" or Node == "n4")) or ServiceName == "web"`
	if got := checksFilter(services, nodes, maxChecksFilter); got != want {
		t.Fatalf("the checks' filter is %q, want %q", got, want)
	}
}
