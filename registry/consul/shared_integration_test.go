package consul

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/registry/consul/consultest"
)

// serviceQueries is a RoundTripper that counts the health queries of each
// service it carries, and the bytes of all answers.
type serviceQueries struct {
	next  http.RoundTripper
	mu    sync.Mutex
	of    map[string]int
	bytes int
}

func (q *serviceQueries) RoundTrip(req *http.Request) (*http.Response, error) {
	if service, ok := strings.CutPrefix(req.URL.Path, "/v1/health/service/"); ok {
		q.mu.Lock()
		q.of[service]++
		q.mu.Unlock()
	}
	resp, err := q.next.RoundTrip(req)
	if err == nil {
		resp.Body = &countedBody{ReadCloser: resp.Body, q: q}
	}
	return resp, err
}

// countedBody counts the bytes of an answer.
type countedBody struct {
	io.ReadCloser
	q *serviceQueries
}

func (b *countedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.q.mu.Lock()
	b.q.bytes += n
	b.q.mu.Unlock()
	return n, err
}

// read returns the bytes of the answers so far.
func (q *serviceQueries) read() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.bytes
}

// counts returns the health queries of service so far, and of every other
// service.
func (q *serviceQueries) counts(service string) (own, others int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for s, n := range q.of {
		if s == service {
			own += n
		} else {
			others += n
		}
	}
	return own, others
}

// sharedRegistry returns a Registry on agent, through a client made by
// NewClient whose health queries are counted, waiting time wait: longer than
// any test's deadline, so that a change the shared watch misses is not found
// by the Watch that returns at the wait time and asks again.
func sharedRegistry(t *testing.T, agent *consultest.Agent) (*Registry, *serviceQueries) {
	t.Helper()
	cfg := &api.Config{Address: agent.Addr()}
	client, err := NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	calls := &serviceQueries{next: cfg.HttpClient.Transport, of: make(map[string]int)}
	cfg.HttpClient.Transport = calls
	return New(client, WithWaitTime(10*time.Minute)), calls
}

// putInstance registers (or updates) service instance svc on node, at
// nodeAddr, with one service check in status, on a node no agent manages
// (so anti-entropy leaves it alone).
func putInstance(t *testing.T, c *api.Client, node, nodeAddr string, svc *api.AgentService, status string) {
	t.Helper()
	if _, err := c.Catalog().Register(&api.CatalogRegistration{Node: node, Address: nodeAddr, Service: svc,
		Check: &api.AgentCheck{CheckID: "check:" + svc.ID, Name: svc.ID, ServiceID: svc.ID, Status: status}}, nil); err != nil {
		t.Fatalf("register %s on %s: %v", svc.ID, node, err)
	}
}

// putNode registers (or updates) node at nodeAddr, with a node check in
// status when status is not empty.
func putNode(t *testing.T, c *api.Client, node, nodeAddr, status string) {
	t.Helper()
	reg := &api.CatalogRegistration{Node: node, Address: nodeAddr}
	if status != "" {
		reg.Check = &api.AgentCheck{Node: node, CheckID: "node-alive", Name: "node alive", Status: status}
	}
	if _, err := c.Catalog().Register(reg, nil); err != nil {
		t.Fatalf("register node %s: %v", node, err)
	}
}

// inParallel calls put with 0 to n-1, 8 at a time: Consul's catalog takes
// its writes faster so.
func inParallel(n int, put func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				put(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// nudge changes the output of a node check on node "settle", which has no
// services: the first nudge adds the node, the next ones move the index of
// the checks and nothing else.
func nudge(t *testing.T, c *api.Client) {
	t.Helper()
	if _, err := c.Catalog().Register(&api.CatalogRegistration{Node: "settle", Address: "127.0.0.250",
		Check: &api.AgentCheck{Node: "settle", CheckID: "settle", Name: "settle", Status: api.HealthPassing,
			Output: time.Now().String()}}, nil); err != nil {
		t.Fatal(err)
	}
}

// settle waits until n Watches wait on r's shared watch with their
// services' answers in hand, then nudges (after a nudge before the
// Watches started), so that checkWatch's blocking query, filtered for the services
// of the first Watches, returns, and waits until an answer at the nudge's
// index or later covered the services of all n, and every Watch it woke
// waits again.
func settle(t *testing.T, r *Registry, n int, c *api.Client) {
	t.Helper()
	waitFor(t, "every Watch on the shared watch to wait", func() bool {
		waiting, _ := r.shared.settled(n)
		return waiting
	})
	nudge(t, c)
	_, meta, err := c.Health().State(api.HealthAny, &api.QueryOptions{Filter: changeFilter})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the shared watch to cover every service", func() bool {
		waiting, covered := r.shared.settled(n)
		return waiting && covered && r.shared.checkAnswers().index >= meta.LastIndex
	})
}

// nodesIn returns the cache's nodes of service by their ids.
func nodesIn(t *testing.T, c *registry.Cache, service string) map[string]*registry.Node {
	t.Helper()
	m := make(map[string]*registry.Node)
	for _, n := range lookupIn(t, c, service) {
		m[n.ID] = n
	}
	return m
}

// changeReaches makes change, then waits until seen reports it in the
// cache, and fails after 30 s, long before the shared watch's safety net
// (its wait time, 10 minutes in sharedRegistry); what names the change, and
// cached tells what the cache holds.
func changeReaches(t *testing.T, what string, change func(), seen func() bool, cached func() any) {
	t.Helper()
	start := time.Now()
	change()
	for !seen() {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("%s: not in the cache after 30 s; it holds %v", what, cached())
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("%s: in the cache after %s", what, time.Since(start).Round(time.Millisecond))
}

// lookupIn returns the cache's nodes of service, failing the test on an error.
func lookupIn(t *testing.T, c *registry.Cache, service string) []*registry.Node {
	t.Helper()
	nodes, err := c.Lookup(context.Background(), service)
	if err != nil {
		t.Fatalf("Lookup(%s): %v", service, err)
	}
	return nodes
}

// TestIntegrationAFlappingCheckCostsTheSharedWatchOnlyItsServicesQueries
// watches 300 services, 284 of them on the shared watch, and flaps one
// service's check: each change of it must cost a query or two of that
// service, not one of every service on the shared watch (284 health queries
// per change, from every gateway, for a change of one service anywhere in
// the datacenter).
func TestIntegrationAFlappingCheckCostsTheSharedWatchOnlyItsServicesQueries(t *testing.T) {
	const services, flaps = 300, 6
	agent := consultest.Start(t)
	setup := agent.Client()
	name := func(i int) string { return fmt.Sprintf("svc-%04d", i) }
	instance := func(i int) *api.AgentService {
		return &api.AgentService{ID: name(i) + "-1", Service: name(i), Port: 9000}
	}
	inParallel(services, func(i int) { putInstance(t, setup, "external", "127.0.0.1", instance(i), api.HealthPassing) })
	nudge(t, setup)

	r, calls := sharedRegistry(t, agent)
	c := registry.NewCache(r, registry.WithDropGrace(0))
	defer c.Close()
	inParallel(services, func(i int) {
		if nodes, err := c.Lookup(context.Background(), name(i)); err != nil || len(nodes) != 1 {
			t.Errorf("Lookup(%s) = %v, %v", name(i), nodes, err)
		}
	})
	settle(t, r, services-MaxBlockingQueries, setup)

	flapped := name(services / 2)
	var own, others int
	var took time.Duration
	for i := range flaps {
		status := api.HealthCritical
		if i%2 == 1 {
			status = api.HealthPassing
		}
		own0, others0 := calls.counts(flapped)
		bytes0 := calls.read()
		start := time.Now()
		putInstance(t, setup, "external", "127.0.0.1", instance(services/2), status)
		for (len(lookupIn(t, c, flapped)) == 1) != (status == api.HealthPassing) {
			if time.Since(start) > 30*time.Second {
				t.Fatalf("%s turned %s: not in the cache after 30 s", flapped, status)
			}
			time.Sleep(time.Millisecond)
		}
		arrived := time.Since(start)
		took += arrived
		waitFor(t, "every Watch on the shared watch to wait again", func() bool {
			waiting, _ := r.shared.settled(services - MaxBlockingQueries)
			return waiting
		})
		own1, others1 := calls.counts(flapped)
		own, others = own+own1-own0, others+others1-others0
		t.Logf("%s turned %s: in the cache after %s; %d health queries of it, %d of the other %d services; %d bytes of answers",
			flapped, status, arrived.Round(time.Millisecond), own1-own0, others1-others0, services-1, calls.read()-bytes0)
	}
	t.Logf("per change, on average: %.1f health queries of the flapping service, %.1f of the others; in the cache after %s",
		float64(own)/flaps, float64(others)/flaps, (took / flaps).Round(time.Millisecond))
	// A change of one service may cost a round of the others now and then
	// (the safety net), never one per change.
	if others > services {
		t.Fatalf("%d changes of %s cost %d health queries of the other services (%.0f per change), want at most %d in all",
			flaps, flapped, others, float64(others)/flaps, services)
	}
	if own > 4*flaps {
		t.Fatalf("%d changes of %s cost %d health queries of it, want at most %d", flaps, flapped, own, 4*flaps)
	}

	// A new instance moves the index of catalog/services, whose answer
	// cannot say which service changed: a round of every service, logged.
	own0, others0 := calls.counts(flapped)
	start := time.Now()
	putInstance(t, setup, "external", "127.0.0.1", &api.AgentService{ID: flapped + "-2", Service: flapped, Port: 9001}, api.HealthPassing)
	for len(lookupIn(t, c, flapped)) != 2 {
		if time.Since(start) > 30*time.Second {
			t.Fatalf("the new instance of %s: not in the cache after 30 s", flapped)
		}
		time.Sleep(time.Millisecond)
	}
	arrived := time.Since(start)
	waitFor(t, "every Watch on the shared watch to wait again", func() bool {
		waiting, _ := r.shared.settled(services - MaxBlockingQueries)
		return waiting
	})
	own1, others1 := calls.counts(flapped)
	t.Logf("a new instance of %s: in the cache after %s; %d health queries of it, %d of the other %d services",
		flapped, arrived.Round(time.Millisecond), own1-own0, others1-others0, services-1)
}

// TestIntegrationEveryKindOfChangeReachesAWatchOnTheSharedWatch puts every
// Watch on the shared watch and makes each kind of change that alters a
// service's passing nodes: a service check's status, a node check's (of a
// node with an instance that has no check of its own, and of one with
// checks, and of a node whose check failed before the Watches began, with
// an instance without checks of its own), a node added and removed, a node's address, which an instance
// without its own address takes, and an instance's meta and port; and a
// check of a service first watched after the others. Each must
// reach the cache long before the wait time, at which a Watch asks again
// whatever the shared watch said. The datacenter has 20 more nodes, each
// with a node check, than the 6 services watched: the query on checks
// names the nodes of the watched instances, and reads the checks.
func TestIntegrationEveryKindOfChangeReachesAWatchOnTheSharedWatch(t *testing.T) {
	everyKindOfChangeReachesTheCache(t, maxChecksFilter, false)
}

// TestIntegrationEveryKindOfChangeReachesAWatchOnTheSharedWatchWhileItProbes
// makes the same changes with a filter too long to name anything (as past
// 6 KiB): the answer on checks would hold every check, of the 20 nodes
// too, and cost more than asking about every service, so the shared watch
// probes, and every change must reach the cache as well.
func TestIntegrationEveryKindOfChangeReachesAWatchOnTheSharedWatchWhileItProbes(t *testing.T) {
	everyKindOfChangeReachesTheCache(t, 1, true)
}

// everyKindOfChangeReachesTheCache makes the changes of
// TestIntegrationEveryKindOfChangeReachesAWatchOnTheSharedWatch, with the
// checks' filter bounded by maxFilter, and fails unless the shared watch
// probes (see checkWatch.probing) as probing says.
func everyKindOfChangeReachesTheCache(t *testing.T, maxFilter int, probing bool) {
	const bystanders = 20
	agent := consultest.Start(t)
	setup := agent.Client()
	for i := range bystanders {
		putNode(t, setup, fmt.Sprintf("bystander-%02d", i), fmt.Sprintf("127.0.1.%d", i+1), api.HealthPassing)
	}
	web := func(id string, port int, meta map[string]string) *api.AgentService {
		return &api.AgentService{ID: id, Service: "web", Port: port, Meta: meta}
	}
	for i := range 5 { // other services, on the shared watch too
		putInstance(t, setup, "n9", "127.0.0.9", &api.AgentService{ID: fmt.Sprintf("other-%d", i), Service: fmt.Sprintf("other-%d", i), Port: 9000}, api.HealthPassing)
	}
	putNode(t, setup, "n1", "127.0.0.1", api.HealthPassing)
	putInstance(t, setup, "n1", "127.0.0.1", web("web-1", 9001, nil), api.HealthPassing)
	putInstance(t, setup, "n2", "127.0.0.2", web("web-2", 9002, nil), api.HealthPassing)
	// web-4 has no check of its own, only its node's.
	if _, err := setup.Catalog().Register(&api.CatalogRegistration{Node: "n4", Address: "127.0.0.4", Service: web("web-4", 9004, nil),
		Check: &api.AgentCheck{Node: "n4", CheckID: "node-alive", Name: "node alive", Status: api.HealthPassing}}, nil); err != nil {
		t.Fatal(err)
	}
	// web-5 has no check of its own, and its node's fails from the start:
	// no passing entry names n5.
	if _, err := setup.Catalog().Register(&api.CatalogRegistration{Node: "n5", Address: "127.0.0.5", Service: web("web-5", 9005, nil),
		Check: &api.AgentCheck{Node: "n5", CheckID: "node-alive", Name: "node alive", Status: api.HealthCritical}}, nil); err != nil {
		t.Fatal(err)
	}
	putInstance(t, setup, "n9", "127.0.0.9", &api.AgentService{ID: "late-1", Service: "late", Port: 9000}, api.HealthPassing)
	nudge(t, setup)

	r, _ := sharedRegistry(t, agent)
	r.blocking = make(chan struct{}) // no place for a blocking query of its own: every Watch is on the shared watch
	r.shared.maxFilter = maxFilter
	c := registry.NewCache(r, registry.WithDropGrace(0))
	defer c.Close()
	for i := range 5 {
		lookupIn(t, c, fmt.Sprintf("other-%d", i))
	}
	nodes := func() map[string]*registry.Node { return nodesIn(t, c, "web") }
	if got := nodes(); len(got) != 3 {
		t.Fatalf("web has %d nodes, want 3", len(got))
	}
	settle(t, r, 6, setup)
	if got := r.shared.checkAnswers().probing; got != probing {
		t.Fatalf("with %d more nodes, each with a node check, and filters of at most %d bytes: probing %v, want %v", bystanders, maxFilter, got, probing)
	}

	step := func(what string, change func(), want func(map[string]*registry.Node) bool) {
		t.Helper()
		changeReaches(t, what, change, func() bool { return want(nodes()) }, func() any { return nodes() })
	}
	present := func(id string, yes bool) func(map[string]*registry.Node) bool {
		return func(m map[string]*registry.Node) bool { _, ok := m[id]; return ok == yes }
	}
	step("web-1's check turned critical", func() {
		putInstance(t, setup, "n1", "127.0.0.1", web("web-1", 9001, nil), api.HealthCritical)
	}, present("web-1", false))
	step("web-1's check turned passing", func() {
		putInstance(t, setup, "n1", "127.0.0.1", web("web-1", 9001, nil), api.HealthPassing)
	}, present("web-1", true))
	step("n1's node check turned critical", func() { putNode(t, setup, "n1", "127.0.0.1", api.HealthCritical) }, present("web-1", false))
	step("n1's node check turned passing", func() { putNode(t, setup, "n1", "127.0.0.1", api.HealthPassing) }, present("web-1", true))
	step("n4's node check turned critical (web-4 has no check)", func() { putNode(t, setup, "n4", "127.0.0.4", api.HealthCritical) }, present("web-4", false))
	step("n4's node check turned passing", func() { putNode(t, setup, "n4", "127.0.0.4", api.HealthPassing) }, present("web-4", true))
	step("n5's node check turned passing (web-5 has no check, and was never passing)", func() {
		putNode(t, setup, "n5", "127.0.0.5", api.HealthPassing)
	}, present("web-5", true))
	step("node n3 added with web-3", func() {
		putInstance(t, setup, "n3", "127.0.0.3", web("web-3", 9003, nil), api.HealthPassing)
	}, present("web-3", true))
	step("node n3 removed", func() {
		if _, err := setup.Catalog().Deregister(&api.CatalogDeregistration{Node: "n3"}, nil); err != nil {
			t.Fatal(err)
		}
	}, present("web-3", false))
	step("n1's address changed", func() { putNode(t, setup, "n1", "127.0.0.11", api.HealthPassing) },
		func(m map[string]*registry.Node) bool {
			return m["web-1"] != nil && m["web-1"].Address == "127.0.0.11:9001"
		})
	step("web-2's meta changed", func() {
		putInstance(t, setup, "n2", "127.0.0.2", web("web-2", 9002, map[string]string{MetaVersion: "v2"}), api.HealthPassing)
	}, func(m map[string]*registry.Node) bool { return m["web-2"] != nil && m["web-2"].Version == "v2" })
	step("web-2's port changed", func() {
		putInstance(t, setup, "n2", "127.0.0.2", web("web-2", 9012, map[string]string{MetaVersion: "v2"}), api.HealthPassing)
	}, func(m map[string]*registry.Node) bool {
		return m["web-2"] != nil && m["web-2"].Address == "127.0.0.2:9012"
	})

	// A service joins the shared watch while its query on checks waits with
	// a filter that names only the others.
	if got := lookupIn(t, c, "late"); len(got) != 1 {
		t.Fatalf("late has %d nodes, want 1", len(got))
	}
	waitFor(t, "late's Watch to wait", func() bool {
		waiting, _ := r.shared.settled(7)
		return waiting
	})
	start := time.Now()
	putInstance(t, setup, "n9", "127.0.0.9", &api.AgentService{ID: "late-1", Service: "late", Port: 9000}, api.HealthCritical)
	for len(lookupIn(t, c, "late")) != 0 {
		if time.Since(start) > 30*time.Second {
			t.Fatal("late's check turned critical: not in the cache after 30 s")
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("late's check turned critical: in the cache after %s", time.Since(start).Round(time.Millisecond))
}

// TestIntegrationAChangeInABigDatacenterCostsASmallSharedWatchNoMoreThanARoundOfItsServices
// watches 20 services, each on a node of its own, in a datacenter of 500
// more nodes, each with a node check and none with a watched instance, and
// flaps the check of an unrelated node, of a watched service, and of a
// watched service's node. Each change must reach the cache, and cost no
// more bytes of answers than the shared watch's first way of asking about
// every one of its services (a round, measured first), and no more than a
// few health queries, however many nodes the datacenter has: an answer on
// checks that carried every node check grew with the datacenter (some 230
// KB here per change anywhere, 2 MB with 5,000 nodes), not with what the
// gateway watches, and one that probed asked about every service.
func TestIntegrationAChangeInABigDatacenterCostsASmallSharedWatchNoMoreThanARoundOfItsServices(t *testing.T) {
	aChangeInABigDatacenter(t, maxChecksFilter, false)
}

// TestIntegrationAChangeInABigDatacenterCostsNoMoreThanARoundWhenTheFilterCannotNameTheNodes
// makes the same changes with a filter too long to name anything (as past
// 6 KiB): the answer on checks would hold every check of the datacenter,
// so the shared watch probes, and each change costs a round of the
// services' queries, no more.
func TestIntegrationAChangeInABigDatacenterCostsNoMoreThanARoundWhenTheFilterCannotNameTheNodes(t *testing.T) {
	aChangeInABigDatacenter(t, 1, true)
}

// aChangeInABigDatacenter makes the changes of
// TestIntegrationAChangeInABigDatacenterCostsASmallSharedWatchNoMoreThanARoundOfItsServices,
// with the checks' filter bounded by maxFilter; a shared watch that
// probes, as probing says, may ask about every service on each change.
func aChangeInABigDatacenter(t *testing.T, maxFilter int, probing bool) {
	const nodes, services = 500, 20
	agent := consultest.Start(t)
	setup := agent.Client()
	name := func(i int) string { return fmt.Sprintf("svc-%02d", i) }
	host := func(i int) string { return fmt.Sprintf("host-%02d", i) }
	instance := func(i int) *api.AgentService {
		return &api.AgentService{ID: name(i) + "-1", Service: name(i), Port: 9000}
	}
	inParallel(nodes, func(i int) {
		putNode(t, setup, fmt.Sprintf("big-%04d", i), fmt.Sprintf("10.1.%d.%d", i/250, i%250+1), api.HealthPassing)
	})
	for i := range services {
		putNode(t, setup, host(i), fmt.Sprintf("10.2.0.%d", i+1), api.HealthPassing)
		putInstance(t, setup, host(i), fmt.Sprintf("10.2.0.%d", i+1), instance(i), api.HealthPassing)
	}
	nudge(t, setup)

	r, calls := sharedRegistry(t, agent)
	r.blocking = make(chan struct{}) // no place for a blocking query of its own: every Watch is on the shared watch
	r.shared.maxFilter = maxFilter
	maxQueries := 4
	if probing {
		maxQueries += services
	}
	bytes0 := calls.read()
	for i := range services {
		if got, err := r.Lookup(context.Background(), name(i)); err != nil || len(got) != 1 {
			t.Fatalf("Lookup(%s) = %v, %v", name(i), got, err)
		}
	}
	round := calls.read() - bytes0
	t.Logf("a round of health queries of the %d services: %d bytes of answers", services, round)

	c := registry.NewCache(r, registry.WithDropGrace(0))
	defer c.Close()
	for i := range services {
		lookupIn(t, c, name(i))
	}
	settle(t, r, services, setup)
	if probing {
		// As the Watches joined one after another, their services doubled
		// and the shared watch reads the checks again at the next move
		// (see checkWatch.retry), until it has read them for more than
		// half of the 20.
		waitFor(t, "the shared watch to read the checks for more than half the services", func() bool {
			if r.shared.checkAnswers().checkedFor*2 > services {
				return true
			}
			settle(t, r, services, setup)
			return false
		})
		settle(t, r, services, setup)
	}

	step := func(what string, change func(), want func() bool) {
		t.Helper()
		answers := r.shared.checkAnswers().count
		bytes0 := calls.read()
		own0, others0 := calls.counts("")
		change()
		start := time.Now()
		for r.shared.checkAnswers().count == answers || !want() {
			if time.Since(start) > 30*time.Second {
				t.Fatalf("%s: not in the cache after 30 s", what)
			}
			time.Sleep(time.Millisecond)
		}
		waitFor(t, "every Watch on the shared watch to wait again", func() bool {
			waiting, _ := r.shared.settled(services)
			return waiting
		})
		got := calls.read() - bytes0
		own1, others1 := calls.counts("")
		queries := own1 + others1 - own0 - others0
		probed := r.shared.checkAnswers().probing
		t.Logf("%s: %d bytes of answers (a round: %d), %d health queries; probing %v", what, got, round, queries, probed)
		if probed != probing || queries > maxQueries {
			t.Errorf("%s cost %d health queries, probing %v; want at most %d, probing %v", what, queries, probed, maxQueries, probing)
		}
		if got > round*3/2 {
			t.Errorf("%s cost %d bytes of answers, want at most %d (a round of the %d services' health queries is %d)",
				what, got, round*3/2, services, round)
		}
	}
	always := func() bool { return true }
	has := func(i, n int) func() bool { return func() bool { return len(lookupIn(t, c, name(i))) == n } }
	step("an unrelated node's check turned critical", func() { putNode(t, setup, "big-0007", "10.1.0.8", api.HealthCritical) }, always)
	step("an unrelated node's check turned passing", func() { putNode(t, setup, "big-0007", "10.1.0.8", api.HealthPassing) }, always)
	step(name(5)+"'s check turned critical", func() {
		putInstance(t, setup, host(5), "10.2.0.6", instance(5), api.HealthCritical)
	}, has(5, 0))
	step(name(5)+"'s check turned passing", func() {
		putInstance(t, setup, host(5), "10.2.0.6", instance(5), api.HealthPassing)
	}, has(5, 1))
	step(host(3)+"'s node check turned critical", func() { putNode(t, setup, host(3), "10.2.0.4", api.HealthCritical) }, has(3, 0))
	step(host(3)+"'s node check turned passing", func() { putNode(t, setup, host(3), "10.2.0.4", api.HealthPassing) }, has(3, 1))
}
