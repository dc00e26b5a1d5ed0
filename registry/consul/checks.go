package consul

import (
	"context"
	"slices"
	"strings"
	"time"
)

// checksEndpoint is the shared watch's blocking query on checks: its answer
// lists the checks themselves, so that a change of one service's checks
// costs a query of that service, not of every service on the shared watch
// (see checkWatch).
const checksEndpoint = "/v1/health/state/any"

// maxChecksFilter bounds the filter that names the shared watch's services
// and their instances' nodes in checkWatch's queries, a part of the
// request's URL: past it with the nodes (some 80 services on 80 nodes,
// names of 20 bytes), checkWatch asks for every node check, and past
// it with the services alone (some 150), for every check of the
// datacenter. Consul's HTTP server reads a request line of up to a MiB, but
// the proxies that may stand in front of an agent often stop at 8 KiB.
const maxChecksFilter = 6 << 10

// checksRetry is how long checkWatch probes before it asks for the checks
// again (see checkWatch.probing): one answer of the checks it would not
// keep, some 2.3 MB with 5,000 nodes, and a round of the services, per
// checksRetry at most (about 4 KB a second).
const checksRetry = 10 * time.Minute

// maxNodeLookups bounds the nodes whose node checks changed in one answer
// that checkWatch asks Consul about, a query each; past it (a network
// partition seen from the servers), the change concerns every service.
const maxNodeLookups = MaxFetches

// check is the part of a Consul health check that checkWatch compares.
type check struct {
	Node, CheckID, Status, ServiceName string
	ModifyIndex                        uint64
}

type checkKey struct{ node, id string }

type checkState struct {
	service, status string
	modify          uint64
}

// checkWatch follows checksEndpoint for the shared watch. Its answer holds
// every check of the watched services and every node check of the nodes
// of their instances (and no other check, while their names fit in
// maxChecksFilter), each with its status and ModifyIndex, which Consul
// moves with every write of the check. The nodes are those of every
// instance, passing or not, at each service's last query on the shared
// watch (see fetchShared): an instance without checks of its own, on a
// node whose check fails, is in no passing entry, and its node must be
// watched all the same for the check's return to passing.
// checkWatch compares each answer with the last one: a service whose checks
// differ (one added, removed, changed) is asked about again; a node whose
// node checks differ makes every service with an instance on that node
// asked about again (a node check fails every instance on its node), which
// one query of the node's services names, with or without checks of their
// own. A service's passing entries change in no other way without moving
// catalog/services or catalog/nodes, whose moves concern every service.
//
// It never misses a change for lack of knowing better: its first answer
// (the first one after a failure too) has no answer to be compared with and
// concerns every service, as does a change of more than maxNodeLookups
// nodes' checks, or one whose node's services could not be read. A service
// that joins the shared watch, or a node that a service's query names
// first, changes the filter: the query in flight, with the old filter,
// still returns at the next change of any check (the index is the whole
// table's), and the next one, with the new filter, does not block, so that
// the new checks come as added ones and their services are asked about
// again. A new instance, on a new node, moves catalog/services, and every
// service is asked about, which names the node; an instance that moves to
// another node is registered again and does the same. A query that a lagging Consul server answers before it
// applied the change its checks announced is not asked again until the
// service's next change: its Watch returns at the wait time (one minute by
// default) and the next one asks at once, which is the shared watch's
// safety net for whatever it may have missed.
//
// Past maxChecksFilter its answer grows with the datacenter, not with what
// the gateway watches: every node check comes (some 450 bytes each), and
// then every check. The checks of the watched services and of their
// instances' nodes come in a round of the services' health queries too
// (each answer carries, for each instance, its node, its service and all
// its checks, and is a response of its own); when the other checks in an
// answer outnumber the watched services, it costs more than a round, and
// checkWatch probes instead (see probing).
type checkWatch struct {
	s      *shared
	filter string                  // of the last answer
	checks map[checkKey]checkState // of the last answer; nil before the first, and while probing

	// probing: checkWatch asks as the catalog endpoints' queries do, with a
	// filter that matches no check, and a move of the index concerns every
	// service, as the shared watch did before it read checks: each change
	// of a check costs a round of the services, no more. It asks for the
	// checks again (an answer that may again be too big, and a round: it
	// has no answer to compare with) checksRetry after it began, or once
	// the services on the shared watch have doubled since.
	probing   bool
	probed    time.Time // when probing began
	probedFor int       // the services on the shared watch then
}

// ask is one query on checksEndpoint from index; it wakes the Watches of
// the services that the change since the last answer concerns, and returns
// the endpoint's index. While the checks cost more than asking about every
// service (see probing), it is a probe instead.
func (w *checkWatch) ask(ctx context.Context, index uint64) (uint64, error) {
	watched, hosts := w.s.watched()
	filter := checksFilter(watched, hosts, w.s.maxFilter)
	if w.probing {
		if !w.retry(len(watched)) {
			return w.probe(ctx, index, filter)
		}
		w.probing, w.checks = false, nil
	}
	from := index
	if filter != w.filter || w.checks == nil {
		from = 0 // the new services' checks were in no answer: see checkWatch
	}
	var answer []check
	next, err := w.s.read(ctx, checksEndpoint, from, filter, &answer)
	if err != nil {
		return 0, err
	}
	defer func() { w.s.answered(filter, next, w.probing, len(watched)) }() // once the Watches it concerns are woken
	checks := make(map[checkKey]checkState, len(answer))
	own := 0
	for _, c := range answer {
		checks[checkKey{c.Node, c.CheckID}] = checkState{c.ServiceName, c.Status, c.ModifyIndex}
		if c.ServiceName == "" {
			if _, ok := slices.BinarySearch(hosts, c.Node); ok {
				own++ // a node check of a watched instance's node
			}
		} else if _, ok := slices.BinarySearch(watched, c.ServiceName); ok {
			own++
		}
	}
	last := w.checks
	w.checks, w.filter = checks, filter
	if len(answer)-own > len(watched) {
		// Dearer than a round of the services: compare this answer still,
		// then probe (see probing).
		w.probing, w.probed, w.probedFor, w.checks = true, w.s.r.now(), len(watched), nil
	}
	if index == 0 || last == nil {
		w.s.bump()
		return next, nil
	}
	services, nodes := make(map[string]bool), make(map[string]bool)
	note := func(k checkKey, c checkState) {
		if c.service == "" {
			nodes[k.node] = true
		} else {
			services[c.service] = true
		}
	}
	for k, c := range checks {
		if was, ok := last[k]; !ok || was != c {
			note(k, c)
			if ok {
				note(k, was)
			}
		}
	}
	for k, was := range last {
		if _, ok := checks[k]; !ok {
			note(k, was)
		}
	}
	if !w.servicesOn(ctx, nodes, services) {
		w.s.bump()
		return next, nil
	}
	w.s.bumpServices(services)
	return next, nil
}

// retry reports whether checkWatch, probing, should ask for the checks
// again, with services on the shared watch: checksRetry after it began to
// probe, or once the services have doubled since (each of them widens what
// the checks may cost).
func (w *checkWatch) retry(services int) bool {
	return w.s.r.now().Sub(w.probed) >= checksRetry || services >= 2*max(w.probedFor, 1)
}

// probe is one query on checksEndpoint from index that matches no check,
// as the catalog endpoints' are: a move of its index concerns every
// service.
func (w *checkWatch) probe(ctx context.Context, index uint64, filter string) (uint64, error) {
	next, err := w.s.probe(ctx, checksEndpoint, index)
	if err != nil {
		return 0, err
	}
	if next != index {
		w.s.bump()
	}
	w.s.answered(filter, next, true, -1)
	return next, nil
}

// servicesOn adds to services the services with an instance on nodes, and
// reports whether it could read them all.
func (w *checkWatch) servicesOn(ctx context.Context, nodes, services map[string]bool) bool {
	if len(nodes) > maxNodeLookups {
		return false
	}
	for node := range nodes {
		if !plainName(node) || hasDotSegment(node) {
			return false // a name Consul's paths may not reach as it is
		}
		var answer struct{ Services []struct{ Service string } }
		if _, err := w.s.read(ctx, "/v1/catalog/node-services/"+node, 0, "", &answer); err != nil {
			return false
		}
		for _, s := range answer.Services {
			services[s.Service] = true
		}
	}
	return true
}

// checksFilter returns the filter of checkWatch's queries: the checks of
// services, and the node checks of nodes (of none when there is no node);
// of every node when a node's name cannot be written in it as it is, or
// naming the nodes would make it longer than max; no filter (every check)
// when a service's name cannot be written in it, or it would still be
// longer than max.
func checksFilter(services, nodes []string, max int) string {
	own := make([]string, 0, len(services))
	for _, s := range services {
		if !writable(s) {
			return ""
		}
		own = append(own, `ServiceName == "`+s+`"`)
	}
	hosts := make([]string, 0, len(nodes))
	for _, n := range nodes {
		if !writable(n) {
			hosts = nil
			break
		}
		hosts = append(hosts, `Node == "`+n+`"`)
	}
	filter := strings.Join(own, " or ")
	if len(hosts) > 0 {
		filter = strings.Join(append([]string{`(ServiceName == "" and (` + strings.Join(hosts, " or ") + `))`}, own...), " or ")
	}
	if len(nodes) > 0 && (len(hosts) == 0 || len(filter) > max) {
		filter = strings.Join(append([]string{`ServiceName == ""`}, own...), " or ")
	}
	switch {
	case len(filter) > max:
		return ""
	case filter == "":
		return changeFilter // no service, no node: no check
	}
	return filter
}

// writable reports whether name can be written in a filter's quotes as it
// is.
func writable(name string) bool {
	return !strings.ContainsFunc(name, func(r rune) bool { return r < ' ' || r == '"' || r == '\\' || r == 0x7f })
}
