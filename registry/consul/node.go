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
// no usable address (see validHost), or a port outside 1-65535.
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

// validHost reports whether host may be dialled as the host of host:port: a
// name, or an IP address that names one host.
//
// An address that already holds a port ("10.0.0.1:8080"), a URL or brackets
// would otherwise be joined into "[10.0.0.1:8080]:80", which Node.Validate
// accepts and no dial can reach. An unspecified address (0.0.0.0, ::) names
// no host: dialled, it reaches the gateway's own host, a service it was never
// meant to call; Consul refuses it as a service address but keeps it as a
// node's, from which an empty service address falls back. A name or an IPv6
// zone (the interface of a link-local address) may hold only the bytes of a
// DNS name or an interface name: anything else (a newline, a space, a colon)
// is no host's name, would only fail every dial, and would carry those bytes
// into logs and spans.
func validHost(host string) bool {
	if ip, err := netip.ParseAddr(host); err == nil {
		return !ip.Unmap().IsUnspecified() && (ip.Zone() == "" || plainName(ip.Zone()))
	}
	return plainName(host)
}

// maxHostName is the longest DNS name in text form, with a trailing dot.
const maxHostName = 254

// plainName reports whether s is non-empty, at most maxHostName bytes, and
// made only of ASCII letters, digits, '-', '.' and '_' (which DNS names and
// interface names use).
func plainName(s string) bool {
	if s == "" || len(s) > maxHostName {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '.' || c == '_') {
			return false
		}
	}
	return true
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
// entries and all but the first of entries with the same Key. Consul lists a
// service ID once per Consul node, so an instance registered from two nodes
// (a host that came back under a new node name while its old one lingers)
// comes twice with one ID and address: kept twice, it would be picked twice
// as often as its peers, and the state kept by Key (loads, breakers,
// ejection) would be counted for both. The result is never nil.
func nodesFromEntries(entries []*api.ServiceEntry) []*registry.Node {
	nodes := make([]*registry.Node, 0, len(entries))
	seen := make(map[string]struct{}, len(entries))
	for _, e := range entries {
		n, ok := NodeFromEntry(e)
		if !ok {
			continue
		}
		k := n.Key()
		if _, dup := seen[k]; dup {
			continue
		}
		seen[k] = struct{}{}
		nodes = append(nodes, n)
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Key() < nodes[j].Key() })
	return nodes
}
