package consul_test

import (
	"context"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/registry/consul"
	"github.com/sluicehq/sluice/registry/consul/consultest"
)

// hostileRegistrations are registrations whose ID, service name or address
// a backend's configuration may hold by mistake (or an attacker who writes
// it): path segments that Consul's HTTP server cleans away and redirects
// from, control bytes, bytes that are not UTF-8, hosts no dial reaches.
func hostileRegistrations() map[string]registry.Registration {
	regs := map[string]registry.Registration{}
	for _, id := range []string{
		"..", ".", "./a", "a/..", "a/./b", "a//b", "/a",
		"x/../../../kv/secret",             // deregistration read the key-value store
		"x/../../../../status/leader",      // heartbeat and deregistration answered by another endpoint
		"a\nb", "a\tb", "a\x7fb", "a\xffb", // the agent refuses the check's path, or keeps another ID
	} {
		regs["id "+id] = registry.Registration{Node: registry.Node{ID: id, Service: "api", Address: "127.0.0.1:9001"}}
	}
	for _, name := range []string{"x/..", "../api", "a//b", "web/"} {
		regs["service "+name] = registry.Registration{Node: registry.Node{ID: "n-" + name, Service: name, Address: "127.0.0.1:9001"}}
	}
	for _, addr := range []string{"a b:9001", "a/b:9001", "x\ny:9001", "h%2F:9001"} {
		regs["address "+addr] = registry.Registration{Node: registry.Node{ID: "n-" + addr, Service: "api", Address: addr}}
	}
	return regs
}

// workingRegistrations are registrations as odd as hostileRegistrations'
// that Consul's agent and gateways handle: Register must accept them.
func workingRegistrations() map[string]registry.Registration {
	regs := map[string]registry.Registration{}
	for _, id := range []string{"a/b", "a/", "a?b", "a#b", "a%2Fb", "a b", "é", "a:b", "api-1"} {
		regs["id "+id] = registry.Registration{Node: registry.Node{ID: id, Service: "api", Address: "127.0.0.1:9001"}}
	}
	for _, addr := range []string{"localhost:9001", "[::1]:9001", "my-host_1.example:9001"} {
		regs["address "+addr] = registry.Registration{Node: registry.Node{Service: "api", Address: addr}}
	}
	regs["service web/"] = registry.Registration{Node: registry.Node{ID: "w", Service: "web/", Address: "127.0.0.1:9001"}}
	return regs
}

// TestAuditIntegrationRegistrationIsRefusedOrWorks holds every registration
// of hostileRegistrations and workingRegistrations (the latter must work)
// to one of two outcomes, against a real agent: Register refuses it and the
// agent holds nothing, or it works end to end, as the registration of a
// node gateways route to must: a gateway's discovery maps the agent's
// entry to a node with the same ID and address, Heartbeat reaches its
// check, and Deregister removes it. Before, an ID with a dot segment
// (".." or "x/../../../../status/leader") was registered, and then
// Deregister returned nil while the agent kept the service (Consul
// redirected the PUT to another endpoint, which the client followed as a
// GET): a backend that shut down stayed in discovery until its TTL ran
// out. Hosts such as "a b" were registered and then skipped by every
// gateway, which no error told.
func TestAuditIntegrationRegistrationIsRefusedOrWorks(t *testing.T) {
	agent := consultest.Start(t)
	r, _ := newRegistry(t, agent)
	c, err := api.NewClient(agent.Config())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := c.KV().Put(&api.KVPair{Key: "secret", Value: []byte("s")}, nil); err != nil {
		t.Fatal(err)
	}
	working := workingRegistrations()
	all := hostileRegistrations()
	for name, reg := range working {
		all[name] = reg
	}
	for name, reg := range all {
		t.Run(name, func(t *testing.T) {
			reg.TTL = time.Minute
			id := reg.ID
			if id == "" {
				id = reg.Address
			}
			_, mustWork := working[name]
			before := len(agentServices(t, c))
			if err := r.Register(ctx, reg); err != nil {
				if mustWork {
					t.Fatalf("Register refused a registration that works: %v", err)
				}
				if n := len(agentServices(t, c)); n != before {
					t.Fatalf("Register refused with %v, yet the agent went from %d services to %d", err, before, n)
				}
				return
			}
			svc, ok := agentServices(t, c)[id]
			if !ok {
				t.Fatalf("registered, yet the agent has no service %q: %v", id, keys(agentServices(t, c)))
			}
			entry := &api.ServiceEntry{Node: &api.Node{Address: "127.0.0.1"},
				Service: &api.AgentService{ID: svc.ID, Service: svc.Service, Address: svc.Address, Port: svc.Port}}
			if n, ok := consul.NodeFromEntry(entry); !ok || n.ID != id || n.Address != reg.Address {
				t.Fatalf("registered, yet gateways map the agent's entry %+v to %+v, %v", entry.Service, n, ok)
			}
			if err := r.Heartbeat(ctx, id); err != nil {
				t.Fatalf("registered, yet Heartbeat fails: %v", err)
			}
			if err := r.Deregister(ctx, reg.Service, id); err != nil {
				t.Fatalf("registered, yet Deregister fails: %v", err)
			}
			if _, still := agentServices(t, c)[id]; still {
				t.Fatalf("Deregister returned nil, yet the agent still holds %q", id)
			}
		})
	}
}

func agentServices(t *testing.T, c *api.Client) map[string]*api.AgentService {
	t.Helper()
	svcs, err := c.Agent().Services()
	if err != nil {
		t.Fatal(err)
	}
	return svcs
}

func keys(m map[string]*api.AgentService) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
