// Package metrics turns what the upstream client and the budget middleware
// observe into Prometheus metrics, with the same names at the gateway and
// in every backend built on Sluice's companion packages, so that one
// dashboard shows the budget hop by hop along a chain.
//
// The client (package upstream) and budget.Inbound know no metrics
// library: they report through upstream.Observer and
// budget.ServerPolicy.Observe, and this package is one observer among
// those a program could write. It registers on the prometheus.Registerer
// it is given; there is no global.
//
// Every label is bounded: service names come from the configuration or the
// code, never from a request; hops are numbered 0 to 7, then "8+"; node
// addresses are never labels (a service's nodes come and go with every
// deployment, so they would leave a trail of dead series: the access log
// names the node of each request, and /admin/upstream the state of each).
package metrics
