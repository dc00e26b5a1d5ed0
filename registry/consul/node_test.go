package consul

import (
	"reflect"
	"testing"

	"github.com/hashicorp/consul/api"

	"github.com/sluicehq/sluice/registry"
)

func TestNodeFromEntry(t *testing.T) {
	node := &api.Node{Node: "n1", Address: "10.0.0.1", Datacenter: "dc1"}
	tests := []struct {
		name string
		in   *api.ServiceEntry
		want *registry.Node
	}{{
		name: "service address, meta version, tags",
		in: &api.ServiceEntry{Node: node, Service: &api.AgentService{
			ID: "api-1", Service: "api", Address: "10.1.1.1", Port: 8080,
			Meta: map[string]string{"version": "1.2.0", "zone": "a"},
			Tags: []string{"canary", "version=0.9.0", "tier=gold"},
		}},
		want: &registry.Node{ID: "api-1", Service: "api", Address: "10.1.1.1:8080", Version: "1.2.0", Datacenter: "dc1",
			Metadata: map[string]string{"version": "1.2.0", "zone": "a", "canary": "", "tier": "gold"}},
	}, {
		name: "node address fallback, tag version",
		in: &api.ServiceEntry{Node: node, Service: &api.AgentService{
			ID: "api-2", Service: "api", Port: 9000, Tags: []string{"version=2.0.0"},
		}},
		want: &registry.Node{ID: "api-2", Service: "api", Address: "10.0.0.1:9000", Version: "2.0.0", Datacenter: "dc1",
			Metadata: map[string]string{"version": "2.0.0"}},
	}, {
		name: "ipv6, no metadata",
		in: &api.ServiceEntry{Node: node, Service: &api.AgentService{
			ID: "api-3", Service: "api", Address: "::1", Port: 80,
		}},
		want: &registry.Node{ID: "api-3", Service: "api", Address: "[::1]:80", Datacenter: "dc1"},
	}, {
		name: "no port",
		in:   &api.ServiceEntry{Node: node, Service: &api.AgentService{ID: "x", Service: "api", Address: "10.1.1.1"}},
	}, {
		name: "no address anywhere",
		in:   &api.ServiceEntry{Service: &api.AgentService{ID: "x", Service: "api", Port: 80}},
	}, {
		name: "no service",
		in:   &api.ServiceEntry{Node: node},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := NodeFromEntry(tt.in)
			if ok != (tt.want != nil) {
				t.Fatalf("ok = %v, want %v (node %+v)", ok, tt.want != nil, got)
			}
			if ok && !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestNodesFromEntriesSortedNeverNil(t *testing.T) {
	if got := nodesFromEntries(nil); got == nil || len(got) != 0 {
		t.Fatalf("nodesFromEntries(nil) = %#v, want empty non-nil", got)
	}
	mk := func(id string) *api.ServiceEntry {
		return &api.ServiceEntry{Service: &api.AgentService{ID: id, Service: "s", Address: "h", Port: 1}}
	}
	got := nodesFromEntries([]*api.ServiceEntry{mk("c"), mk("a"), {}, mk("b")})
	var ids []string
	for _, n := range got {
		ids = append(ids, n.ID)
	}
	if !reflect.DeepEqual(ids, []string{"a", "b", "c"}) {
		t.Fatalf("ids = %v, want [a b c]", ids)
	}
}
