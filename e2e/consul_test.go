package e2e

import (
	"syscall"
	"testing"
	"time"

	eload "github.com/sluicehq/sluice/e2e/internal/load"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/registry/consul/consultest"
)

// These tests run the gateway on a real Consul dev agent (skipped when the
// binary has not been built with scripts/consul.sh build, failed then under
// CI), with greeters that register themselves and a load generator in the
// test. Each owns its agent and processes, so they run in parallel; the
// SIGKILL test's wait for Consul's reaper dominates the total time.
//
// Bounds on times are generous, for loaded machines: each test logs the
// figure it measured.

// TestConsulSIGKILLedNodeIsDropped kills a greeter with no chance to
// deregister: its TTL check lapses, the gateway stops sending to it, and GETs
// meanwhile never fail, since a refused connection is retried on the other
// node. Consul's reaper then removes it from the catalog.
func TestConsulSIGKILLedNodeIsDropped(t *testing.T) {
	t.Parallel()
	agent := consultest.Start(t)
	capi := agent.Client()
	const ttl = 2 * time.Second
	a := startGreeter(t, agent, "-ttl", ttl.String())
	b := startGreeter(t, agent, "-ttl", ttl.String())
	gw := startConsulGateway(t, agent.Addr())
	ld := startLoad(t, gw.url, 60, 2*time.Minute, httpRoute, rpcRoute)
	ld.WaitServed(t, time.Time{}, 20, 30*time.Second, a.addr, b.addr) // steady traffic on both

	killAt := time.Now()
	b.p.signal(syscall.SIGKILL)
	_ = b.p.wait()

	// Until the gateway drops b, a request whose first pick is b has its
	// connection refused and is retried on a, which reports the retry. The
	// gateway has stopped sending to b once a clean stretch of answers
	// follows the last such request.
	var lastToB time.Time
	ld.WaitFor(t, "a clean second of traffic on the survivor alone", ttl+30*time.Second, func(hs []hit) bool {
		lastToB = killAt
		for _, h := range eload.Since(hs, killAt) {
			if h.Retries > 0 || h.Node == b.addr {
				lastToB = h.Start
			}
		}
		return time.Since(lastToB) > time.Second && len(eload.Since(hs, lastToB)) > 40
	})
	gw.waitGatewayNodes(t, 1, 10*time.Second) // it was discovery, not luck
	detect := lastToB.Sub(killAt)
	t.Logf("SIGKILL: the gateway stopped sending to the killed node %s after the kill (TTL %s, heartbeat every ~%s)",
		detect.Round(time.Millisecond), ttl, ttl/3)
	if limit := ttl + 10*time.Second; detect > limit {
		t.Errorf("the gateway kept sending to the killed node for %s, want within %s", detect, limit)
	}

	ld.Stop()
	all := summarize(ld.Hits())
	since := summarize(eload.Since(ld.Hits(), killAt))
	t.Logf("SIGKILL: %d requests in all, %d after the kill, of which %d answered by the survivor after a retry; failures: GET %s %d, RPC %s %d",
		all.total, since.total, since.retried, httpRoute, all.failed(httpRoute), rpcRoute, all.failed(rpcRoute))
	all.mustNotFail(t, "SIGKILL", httpRoute)
	// The RPC route sends a POST: one in flight on the killed node's
	// connection may have been processed, so the gateway rightly does not
	// retry it. Such failures are reported, not asserted.
	for _, h := range all.failures[rpcRoute] {
		t.Logf("SIGKILL: RPC failure (POST not retried once sent): %s", h)
	}

	// b is still in the catalog, critical, until DeregisterCriticalAfter
	// (the registry's default, Consul's minimum) plus up to one run of the
	// agent's reaper, every 30s.
	if !hasAddr(catalogNodes(t, capi), b.addr) {
		t.Logf("SIGKILL: the killed node already left the catalog at %s", time.Since(killAt).Round(time.Millisecond))
	}
	if hasAddr(consulNodes(t, capi, true), b.addr) {
		t.Errorf("the killed node %s is still passing in Consul", b.addr)
	}
	limit := registry.DefaultDeregisterCriticalAfter + ttl + 2*time.Minute
	poll(t, "Consul to reap the killed node", limit-time.Since(killAt), 500*time.Millisecond, func() bool {
		return !hasAddr(catalogNodes(t, capi), b.addr)
	})
	t.Logf("SIGKILL: the killed node left Consul's catalog %s after the kill (deregister critical after %s)",
		time.Since(killAt).Round(time.Second), registry.DefaultDeregisterCriticalAfter)
	if !hasAddr(catalogNodes(t, capi), a.addr) {
		t.Errorf("the surviving node %s left the catalog too", a.addr)
	}
}

// TestConsulSIGTERMedNodeLosesNoRequest stops a greeter the polite way: it
// deregisters, keeps serving through its propagation delay while gateways
// notice, then drains. No request fails, and once the gateway has dropped it
// no request reaches it.
func TestConsulSIGTERMedNodeLosesNoRequest(t *testing.T) {
	t.Parallel()
	agent := consultest.Start(t)
	capi := agent.Client()
	a := startGreeter(t, agent, "-ttl", "2s", "-propagation-delay", "1s")
	b := startGreeter(t, agent, "-ttl", "2s", "-propagation-delay", "1s")
	gw := startConsulGateway(t, agent.Addr())
	ld := startLoad(t, gw.url, 60, 2*time.Minute, httpRoute, rpcRoute)
	ld.WaitServed(t, time.Time{}, 20, 30*time.Second, a.addr, b.addr) // steady traffic on both

	termAt := time.Now()
	b.p.signal(syscall.SIGTERM)
	eventually(t, "Consul to forget the stopped node", 30*time.Second, func() bool {
		return !hasAddr(consulNodes(t, capi, false), b.addr)
	})
	deregAt := time.Now()
	gwAt := gw.waitGatewayNodes(t, 1, 30*time.Second)
	b.stopped(t)
	exitAt := time.Now()
	waitMore(t, ld, exitAt, 60, 30*time.Second)
	ld.Stop()

	hs := ld.Hits()
	var lastB time.Time
	servedAfterDereg := 0
	for _, h := range hs {
		if h.OK() && h.Node == b.addr {
			lastB = h.Start
			if !h.Start.Before(deregAt) {
				servedAfterDereg++
			}
		}
	}
	for _, h := range eload.Since(hs, gwAt) {
		if h.Node == b.addr {
			t.Errorf("after the gateway dropped the stopped node it still served %s", h)
		}
	}
	s := summarize(hs)
	t.Logf("SIGTERM: deregistered within %s, gateway dropped it after %s, process exited after %s; last request to it started %s after SIGTERM; %d served by it after the test saw it gone from Consul",
		deregAt.Sub(termAt).Round(time.Millisecond), gwAt.Sub(termAt).Round(time.Millisecond),
		exitAt.Sub(termAt).Round(time.Millisecond), lastB.Sub(termAt).Round(time.Millisecond), servedAfterDereg)
	t.Logf("SIGTERM: %d requests, by node %v, %d retried; failures: GET %d, RPC %d",
		s.total, s.byNode, s.retried, s.failed(httpRoute), s.failed(rpcRoute))
	s.mustNotFail(t, "SIGTERM", httpRoute, rpcRoute)
	if !hasAddr(consulNodes(t, capi, true), a.addr) {
		t.Errorf("the remaining node %s is not passing", a.addr)
	}
}

// TestConsulOutageKeepsServing stops Consul for 30 seconds under load: the
// gateway serves its cached nodes without a failure. When Consul comes back
// empty, the greeters' heartbeats register them again, the gateway re-syncs,
// a node started afterwards gets traffic, and one stopped stops getting it.
func TestConsulOutageKeepsServing(t *testing.T) {
	t.Parallel()
	agent := consultest.Start(t)
	capi := agent.Client()
	flags := []string{"-ttl", "2s", "-propagation-delay", "1s"}
	a := startGreeter(t, agent, flags...)
	b := startGreeter(t, agent, flags...)
	gw := startConsulGateway(t, agent.Addr())
	ld := startLoad(t, gw.url, 60, 3*time.Minute, httpRoute, rpcRoute)
	ld.WaitServed(t, time.Time{}, 20, 30*time.Second, a.addr, b.addr) // steady traffic on both
	gw.waitGatewayNodes(t, 2, 30*time.Second)

	const outage = 30 * time.Second
	stopAt := time.Now()
	agent.Stop()
	noticed := eventually(t, "the gateway to notice the outage", outage, func() bool {
		st, _ := gw.greeter(t)
		return st.LastError != "" && st.Nodes == 2
	})
	// The outage lasts a set time, whatever happens meanwhile.
	time.Sleep(time.Until(stopAt.Add(outage)))
	st, _ := gw.greeter(t)
	restartAt := time.Now()
	agent.Restart()
	upAt := time.Now()

	back := eventually(t, "both greeters to re-register by themselves", 30*time.Second, func() bool {
		up := consulNodes(t, capi, true)
		return hasAddr(up, a.addr) && hasAddr(up, b.addr)
	})
	resyncAt := gw.waitGatewayNodes(t, 2, 30*time.Second)
	during := summarize(eload.Between(ld.Hits(), stopAt, restartAt))
	t.Logf("outage: %s without Consul (gateway saw it after %s; at the end stale for %s, serving %d nodes): %d requests, by node %v; failures: GET %d, RPC %d",
		restartAt.Sub(stopAt).Round(time.Millisecond), noticed.Round(time.Millisecond), st.StaleFor, st.Nodes,
		during.total, during.byNode, during.failed(httpRoute), during.failed(rpcRoute))
	during.mustNotFail(t, "during the Consul outage", httpRoute, rpcRoute)
	if during.byNode[a.addr] == 0 || during.byNode[b.addr] == 0 || during.total < 100 {
		t.Errorf("during the outage: %d requests, by node %v; want steady traffic on both cached nodes", during.total, during.byNode)
	}
	t.Logf("outage: Consul back (restart took %s); greeters re-registered %s later; gateway re-synced %s after the restart",
		upAt.Sub(restartAt).Round(time.Millisecond), back.Round(time.Millisecond), resyncAt.Sub(upAt).Round(time.Millisecond))

	// A node started after Consul's return.
	c := startGreeter(t, agent, flags...)
	ld.WaitServed(t, c.registeredAt, 1, 30*time.Second, c.addr)
	took := firstAnswer(ld.Hits(), c.addr).Sub(c.registeredAt)
	t.Logf("outage: a node registered after Consul's return got its first request %s after registering", took.Round(time.Millisecond))
	if took > 10*time.Second {
		t.Errorf("the new node got traffic %s after registering, want within 10s", took)
	}

	// And one stopped.
	termAt := time.Now()
	a.p.signal(syscall.SIGTERM)
	gwAt := gw.waitGatewayNodes(t, 2, 30*time.Second)
	a.stopped(t)
	waitMore(t, ld, time.Now(), 60, 30*time.Second)
	ld.Stop()
	hs := ld.Hits()
	for _, h := range eload.Since(hs, gwAt) {
		if h.Node == a.addr {
			t.Errorf("after the gateway dropped the stopped node it still served %s", h)
		}
	}
	s := summarize(hs)
	t.Logf("outage: the stopped node left the gateway %s after SIGTERM; whole run %d requests, by node %v; failures: GET %d, RPC %d",
		gwAt.Sub(termAt).Round(time.Millisecond), s.total, s.byNode, s.failed(httpRoute), s.failed(rpcRoute))
	s.mustNotFail(t, "the whole run", httpRoute, rpcRoute)
}

// TestConsulNewNodeGetsTraffic starts a second greeter under load: the
// gateway's blocking query wakes on the registration and sends it traffic.
func TestConsulNewNodeGetsTraffic(t *testing.T) {
	t.Parallel()
	agent := consultest.Start(t)
	a := startGreeter(t, agent)
	gw := startConsulGateway(t, agent.Addr())
	ld := startLoad(t, gw.url, 60, time.Minute, httpRoute, rpcRoute)
	ld.WaitServed(t, time.Time{}, 20, 30*time.Second, a.addr)

	b := startGreeter(t, agent)
	ld.WaitServed(t, b.registeredAt, 1, 30*time.Second, b.addr)
	took := firstAnswer(ld.Hits(), b.addr).Sub(b.registeredAt)
	t.Logf("new node: first request %s after it registered", took.Round(time.Millisecond))
	if took > 10*time.Second {
		t.Errorf("the new node got traffic %s after registering, want within 10s", took)
	}
	since := time.Now()
	waitMore(t, ld, since, 60, 30*time.Second)
	ld.Stop()
	hs := ld.Hits()
	later := summarize(eload.Since(hs, since))
	if later.byNode[a.addr] == 0 || later.byNode[b.addr] == 0 {
		t.Errorf("after the new node joined, requests by node %v, want both", later.byNode)
	}
	s := summarize(hs)
	t.Logf("new node: %d requests, by node %v; failures: GET %d, RPC %d", s.total, s.byNode, s.failed(httpRoute), s.failed(rpcRoute))
	s.mustNotFail(t, "new node", httpRoute, rpcRoute)
}

// TestConsulRequestsDoNotGrowWithTraffic counts the requests the gateway
// makes to Consul, through a proxy, while 20 then 200 requests a second go
// through it: the watch-fed cache asks Consul the same few times either way.
func TestConsulRequestsDoNotGrowWithTraffic(t *testing.T) {
	t.Parallel()
	agent := consultest.Start(t)
	a := startGreeter(t, agent)
	proxy := startConsulProxy(t, agent.Addr())
	gw := startConsulGateway(t, proxy.addr)
	warm := startLoad(t, gw.url, 20, 30*time.Second, httpRoute, rpcRoute)
	warm.WaitServed(t, time.Time{}, 1, 30*time.Second, a.addr) // the first lookup starts the watch
	warm.Stop()
	gw.waitGatewayNodes(t, 1, 10*time.Second)

	const window = 3 * time.Second
	type result struct {
		rate, hits  int
		achieved    float64
		all, health int
		skipped     int
	}
	run := func(rate int) result {
		from := time.Now()
		ld := startLoad(t, gw.url, rate, window, httpRoute, rpcRoute)
		ld.Wait(t)
		to := time.Now()
		hs := ld.Hits()
		s := summarize(hs)
		s.mustNotFail(t, "counting Consul requests", httpRoute, rpcRoute)
		all, health := proxy.count(from, to)
		return result{rate: rate, hits: len(hs), achieved: achievedRate(hs, to.Sub(from)), all: all, health: health, skipped: ld.Skipped()}
	}
	slow, fast := run(20), run(200)
	total, _ := proxy.count(time.Time{}, time.Now())
	for _, r := range []result{slow, fast} {
		t.Logf("Consul requests: %d (%d health queries) during %s at %d req/s (%d requests, %.0f/s achieved, %d ticks skipped)",
			r.all, r.health, window, r.rate, r.hits, r.achieved, r.skipped)
	}
	t.Logf("Consul requests: %d through the proxy since the gateway started", total)
	if fast.hits < 2*slow.hits {
		t.Errorf("the fast window sent %d requests and the slow one %d: the load did not grow enough to tell", fast.hits, slow.hits)
	}
	if fast.all != slow.all || fast.all > 3 {
		t.Errorf("Consul requests grew with traffic: %d at %d req/s, %d at %d req/s; want the same few",
			slow.all, slow.rate, fast.all, fast.rate)
	}
}

// firstAnswer returns when node first answered a request.
func firstAnswer(hs []hit, node string) time.Time {
	var first time.Time
	for _, h := range hs {
		if h.OK() && h.Node == node && (first.IsZero() || h.End.Before(first)) {
			first = h.End
		}
	}
	return first
}
