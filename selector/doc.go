// Package selector picks the node that serves each attempt of a call.
//
// A Strategy builds a Picker over one immutable snapshot of a service's nodes,
// when discovery changes; Pick then runs on every attempt with no lock. Pick is
// told, in a PickInfo, the nodes this call has already tried, so that a retry
// goes to a node it has not tried when one exists, and the version the call
// is pinned to, if any.
//
// Strategies, one per file:
//
//   - RoundRobin and Random;
//   - LeastLoaded, the power of two choices over the requests in flight
//     that a Loads counts, weighed by each node's recent failures (the
//     upstream Client's default);
//   - Weighted, in proportion to a weight per node (MetadataWeight);
//   - Canary, a fixed share of picks per version, whatever its node count;
//   - Filter and Prefer, a hard filter and a preference with fallback, with
//     the predicates MetadataEquals, InDatacenter and VersionIs;
//   - Pinnable, which honours a call's pinned version.
//
// The last three wrap another strategy, so they compose; Pinnable goes
// outermost:
//
//	Pinnable(Prefer(InDatacenter("eu-west"), Canary(splits, LeastLoaded(loads))))
//
// State that outlives a snapshot (the in-flight counts and failure penalties
// of Loads, the ejections and refused connections of an Ejector) is keyed by
// node identity and owned by the caller, so that it survives discovery
// refreshes and configuration reloads.
// Strategies that draw random numbers take WithSource, for exact tests.
package selector
