package consul_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/registry/consul"
	"github.com/sluicehq/sluice/registry/consul/consultest"
)

// connCounter counts the connections its dialer holds open, and the most it
// held at once.
type connCounter struct {
	mu         sync.Mutex
	open, peak int
}

func (c *connCounter) add(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.open += n
	c.peak = max(c.peak, c.open)
}

func (c *connCounter) max() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.peak
}

func (c *connCounter) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	conn, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	c.add(1)
	return &countedConn{Conn: conn, c: c}, nil
}

type countedConn struct {
	net.Conn
	c    *connCounter
	once sync.Once
}

func (cc *countedConn) Close() error {
	cc.once.Do(func() { cc.c.add(-1) })
	return cc.Conn.Close()
}

// agentCalls counts the requests to the agent in flight, the most at once,
// the health queries of services, and the answers 429 (the agent refuses
// connections past its limits.http_max_conns_per_client).
type agentCalls struct {
	next                            http.RoundTripper
	mu                              sync.Mutex
	inFlight, peak, health, tooMany int
}

func (a *agentCalls) RoundTrip(req *http.Request) (*http.Response, error) {
	a.mu.Lock()
	a.inFlight++
	a.peak = max(a.peak, a.inFlight)
	if strings.HasPrefix(req.URL.Path, "/v1/health/service/") {
		a.health++
	}
	a.mu.Unlock()
	resp, err := a.next.RoundTrip(req)
	a.mu.Lock()
	defer a.mu.Unlock()
	a.inFlight--
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		a.tooMany++
	}
	return resp, err
}

func (a *agentCalls) counts() (peak, health, tooMany int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.peak, a.health, a.tooMany
}

// registerExternal puts one instance of service in the catalog, on a node
// that no agent manages (so anti-entropy leaves it alone), with one check
// in status.
func registerExternal(c *api.Client, service, status string) error {
	_, err := c.Catalog().Register(&api.CatalogRegistration{
		Node: "external", Address: "127.0.0.1",
		Service: &api.AgentService{ID: service + "-1", Service: service, Port: 9000},
		Check:   &api.AgentCheck{CheckID: "check:" + service, Name: service, ServiceID: service + "-1", Status: status},
	}, nil)
	if err != nil {
		return fmt.Errorf("register %s: %w", service, err)
	}
	return nil
}

// TestIntegrationACacheDiscoversAThousandServicesOnAFewConnections routes
// to 1,000 services through one agent with its default limits. With one
// blocking query, so one connection, per service, the agent refused the
// connections past its 200 per client with 429, and the first lookups of
// the services past them found no nodes. Every service must be found, a
// health change of any of them must reach the cache, and the gateway must
// hold no more connections than the Registry's bound, with a transport that
// would open as many as it is asked for.
func TestIntegrationACacheDiscoversAThousandServicesOnAFewConnections(t *testing.T) {
	const services = 1000
	agent := consultest.Start(t)
	setup := agent.Client()
	name := func(i int) string { return fmt.Sprintf("svc-%04d", i) }
	var wg sync.WaitGroup
	next := make(chan int)
	for range 8 {
		wg.Go(func() {
			for i := range next {
				if err := registerExternal(setup, name(i), api.HealthPassing); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for i := range services {
		next <- i
	}
	close(next)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	// The gateway's client (consul.NewClient, its own transport), its
	// connections and requests counted.
	cfg := &api.Config{Address: agent.Addr()}
	client, err := consul.NewClient(cfg)
	if err != nil {
		t.Fatal(err)
	}
	conns := &connCounter{}
	cfg.Transport.DialContext = conns.dial // before the first request
	calls := &agentCalls{next: cfg.HttpClient.Transport}
	cfg.HttpClient.Transport = calls
	c := registry.NewCache(consul.New(client), registry.WithDropGrace(0))
	defer c.Close()

	start := time.Now()
	var missing atomic.Int64
	for i := range services {
		wg.Go(func() {
			nodes, err := c.Lookup(context.Background(), name(i))
			if err != nil || len(nodes) != 1 {
				missing.Add(1)
			}
		})
	}
	wg.Wait()
	_, _, tooMany := calls.counts()
	t.Logf("first lookups of %d services: %d without their node, in %s; %d answers 429",
		services, missing.Load(), time.Since(start).Round(time.Millisecond), tooMany)
	if missing.Load() > 0 {
		t.Fatalf("%d of %d services had no node at their first lookup (%d answers 429)", missing.Load(), services, tooMany)
	}

	// A health change of services spread over the set, each made once the
	// last one arrived: every one reaches the cache, and back.
	for _, i := range []int{0, services / 3, services / 2, services - 1} {
		for _, status := range []string{api.HealthCritical, api.HealthPassing} {
			_, before, _ := calls.counts()
			if err := registerExternal(setup, name(i), status); err != nil {
				t.Fatal(err)
			}
			took := eventually(t, name(i)+" "+status+" in the cache", func() bool {
				nodes, err := c.Lookup(context.Background(), name(i))
				return err == nil && (len(nodes) == 1) == (status == api.HealthPassing)
			})
			_, after, _ := calls.counts()
			t.Logf("%s turned %s: in the cache after %s, %d health queries meanwhile", name(i), status, took.Round(time.Millisecond), after-before)
		}
	}
	// A new instance (a change of the services table alone).
	if _, err := setup.Catalog().Register(&api.CatalogRegistration{Node: "external", Address: "127.0.0.1",
		Service: &api.AgentService{ID: name(7) + "-2", Service: name(7), Port: 9001}}, nil); err != nil {
		t.Fatal(err)
	}
	took := eventually(t, "the new instance of "+name(7), func() bool { return len(lookup(t, c, name(7))) == 2 })
	t.Logf("a new instance of %s without checks: in the cache after %s", name(7), took.Round(time.Millisecond))

	const bound = consul.MaxBlockingQueries + 3 + consul.MaxFetches
	peak, health, tooMany := calls.counts()
	t.Logf("at most %d requests to the agent at once (bound %d) on at most %d connections (cap %d); %d health queries in all; %d answers 429",
		peak, bound, conns.max(), consul.MaxConns, health, tooMany)
	if peak > bound || conns.max() > consul.MaxConns || tooMany > 0 {
		t.Fatalf("the gateway had up to %d requests to its agent at once (bound %d), on up to %d connections (cap %d), and was refused %d times",
			peak, bound, conns.max(), consul.MaxConns, tooMany)
	}
}
