package consul

import (
	"net"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/hashicorp/consul/api"

	"github.com/sluicehq/sluice/registry"
)

// MetaVersion is the Service.Meta key that carries a node's version. A tag
// "version=X" is the fallback for services that cannot set Meta.
const MetaVersion = "version"

// NodeFromEntry maps one Consul health entry to a Node; see the package
// documentation for the table. It returns false when the entry has no service or
// no usable address.
func NodeFromEntry(e *api.ServiceEntry) (*registry.Node, bool) {
	if e == nil || e.Service == nil {
		return nil, false
	}
	s := e.Service
	host := s.Address
	var dc string
	if e.Node != nil {
		dc = e.Node.Datacenter
		if host == "" {
			host = e.Node.Address
		}
	}
	n := &registry.Node{
		ID:         s.ID,
		Service:    s.Service,
		Address:    net.JoinHostPort(host, strconv.Itoa(s.Port)),
		Datacenter: dc,
		Metadata:   metadata(s.Meta, s.Tags),
	}
	if !validHost(host) || n.Validate() != nil {
		return nil, false
	}
	n.Version = n.Metadata[MetaVersion]
	return n, true
}

// validHost reports whether host can be dialled as the host of host:port: an
// IP address (IPv6 with a zone too) or a name. An address that already holds
// a port ("10.0.0.1:8080"), a URL or brackets would otherwise be joined into
// "[10.0.0.1:8080]:80", which Node.Validate accepts and no dial can reach.
func validHost(host string) bool {
	if host == "" {
		return false
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	return !strings.ContainsAny(host, ":/[]@ \t")
}

// metadata merges Meta and tags; Meta wins over a tag with the same key.
func metadata(meta map[string]string, tags []string) map[string]string {
	if len(meta) == 0 && len(tags) == 0 {
		return nil
	}
	md := make(map[string]string, len(meta)+len(tags))
	for _, t := range tags {
		k, v, _ := strings.Cut(t, "=")
		md[k] = v
	}
	for k, v := range meta {
		md[k] = v
	}
	return md
}

// nodesFromEntries maps entries to nodes sorted by Key, skipping unusable
// entries. The result is never nil.
func nodesFromEntries(entries []*api.ServiceEntry) []*registry.Node {
	nodes := make([]*registry.Node, 0, len(entries))
	for _, e := range entries {
		if n, ok := NodeFromEntry(e); ok {
			nodes = append(nodes, n)
		}
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Key() < nodes[j].Key() })
	return nodes
}
