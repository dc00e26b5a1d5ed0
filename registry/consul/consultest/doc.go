// Package consultest runs a real Consul agent for integration tests.
//
// The agent binary is the one scripts/consul.sh builds and caches (Consul
// v1.14.11). Start runs it in -dev mode on free loopback ports with its data
// and log in the test's temporary directory, waits until a leader is elected,
// and stops it when the test ends. Stop and Restart simulate an outage; a
// restarted dev agent comes back on the same ports with an empty catalog.
//
// When the binary is missing, Start skips the test, or fails it when the CI
// environment variable is set, so that CI cannot pass by skipping.
package consultest
