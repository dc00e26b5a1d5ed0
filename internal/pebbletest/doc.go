// Package pebbletest runs Pebble, Let's Encrypt's ACME test server, on
// loopback for tests of automatic certificates: a real ACME server that
// validates challenges by dialling the gateway, so that issuing and
// renewing are tested end to end rather than against a fake.
//
// The binary is the one scripts/pebble.sh installs and caches (the path is
// in SLUICE_PEBBLE under scripts/test.sh). Pebble is given its own HTTPS
// certificate, made at test time by internal/tlscert/certtest, and a DNS
// server of this package that answers 127.0.0.1 for every name, so that
// its validation authority reaches the gateway under test whatever name
// the test asks a certificate for.
package pebbletest
