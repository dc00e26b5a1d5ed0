// Package e2e holds end-to-end tests: they build the gateway and the example
// services, start them as real processes on loopback sockets, and check the
// behaviour a user would see through the gateway.
package e2e
