package consul

import (
	"context"
	"errors"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/sluicehq/sluice/registry"
)

// TestAuditUnaddressableRegistrationsAreRefusedWithoutARequest holds
// Register, Heartbeat and Deregister to refusing, before any request to
// the agent, the service IDs that Consul's HTTP paths cannot name (a dot
// or empty segment, which its server redirects to another endpoint; a
// control byte; bytes that are not UTF-8), and Register to refusing a
// service name that Lookup refuses and a host that gateways skip.
// TestAuditIntegrationRegistrationIsRefusedOrWorks shows, against a real
// agent, what each did when it was sent.
func TestAuditUnaddressableRegistrationsAreRefusedWithoutARequest(t *testing.T) {
	ctx := context.Background()
	node := func(id, service, addr string) registry.Registration {
		return registry.Registration{Node: registry.Node{ID: id, Service: service, Address: addr}}
	}
	tests := []struct {
		name string
		reg  registry.Registration
		want error
	}{
		{"dot dot", node("..", "api", "10.0.0.5:80"), registry.ErrInvalidNode},
		{"dot", node(".", "api", "10.0.0.5:80"), registry.ErrInvalidNode},
		{"traversal", node("x/../../../../status/leader", "api", "10.0.0.5:80"), registry.ErrInvalidNode},
		{"doubled slash", node("a//b", "api", "10.0.0.5:80"), registry.ErrInvalidNode},
		{"leading slash", node("/a", "api", "10.0.0.5:80"), registry.ErrInvalidNode},
		{"newline", node("a\nb", "api", "10.0.0.5:80"), registry.ErrInvalidNode},
		{"DEL", node("a\x7fb", "api", "10.0.0.5:80"), registry.ErrInvalidNode},
		{"not UTF-8", node("a\xffb", "api", "10.0.0.5:80"), registry.ErrInvalidNode},
		{"service with a dot segment", node("a", "x/..", "10.0.0.5:80"), ErrServiceName},
		{"host with a space", node("a", "api", "a b:80"), registry.ErrInvalidNode},
		{"host with a slash", node("a", "api", "a/..:80"), registry.ErrInvalidNode},
		{"unspecified host", node("a", "api", "0.0.0.0:80"), registry.ErrInvalidNode},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeConsul()
			r := NewFrom(f, f)
			if err := r.Register(ctx, tt.reg); !errors.Is(err, tt.want) {
				t.Fatalf("Register = %v, want an error wrapping %v", err, tt.want)
			}
			if tt.want == registry.ErrInvalidNode && tt.reg.ID != "a" {
				if err := r.Heartbeat(ctx, tt.reg.ID); !errors.Is(err, registry.ErrInvalidNode) {
					t.Fatalf("Heartbeat = %v, want an error wrapping ErrInvalidNode", err)
				}
				if err := r.Deregister(ctx, tt.reg.Service, tt.reg.ID); !errors.Is(err, registry.ErrInvalidNode) {
					t.Fatalf("Deregister = %v, want an error wrapping ErrInvalidNode", err)
				}
			}
			if calls := f.callLog(); len(calls) != 0 {
				t.Fatalf("the agent was asked %q", calls)
			}
		})
	}
}

// ttlFailing is a fakeConsul whose heartbeats fail, as an agent's do when
// it restarts (or its connection breaks) right after a registration.
type ttlFailing struct{ *fakeConsul }

func (f ttlFailing) UpdateTTLOpts(checkID, _, _ string, _ *api.QueryOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "ttl "+checkID)
	return errors.New("connection reset")
}

// TestAuditAnnounceThatFailsLeavesNothingRegistered holds Announce, when
// its first heartbeat fails after the registration succeeded, to
// withdrawing that registration before it returns the error. Before, the
// node stayed registered and passing for its TTL (and in the catalog until
// DeregisterCriticalAfter) although the caller was told it was not
// announced, and most often gave up: gateways sent it requests meanwhile.
func TestAuditAnnounceThatFailsLeavesNothingRegistered(t *testing.T) {
	f := ttlFailing{newFakeConsul()}
	r := NewFrom(f, f)
	clock := newManualTimer()
	if _, err := r.Announce(context.Background(), reg("a", "10.0.0.5:80"), withAfter(clock.after)); err == nil {
		t.Fatal("Announce hid the heartbeat's error")
	}
	if s, _ := f.registration("a"); s != nil {
		t.Fatalf("Announce failed, yet the agent holds %+v; calls %q", s, f.callLog())
	}
	select {
	case <-clock.waits:
		t.Fatal("heartbeat loop started after a failed announcement")
	default:
	}
}
