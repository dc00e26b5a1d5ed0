// Package selector picks the node that serves each attempt of a call.
//
// A Strategy builds a Picker over one immutable snapshot of a service's nodes,
// when discovery changes; Pick then runs on every attempt with no lock. Pick is
// told the nodes this call has already tried, so that a retry goes to a node
// it has not tried when one exists.
package selector
