// Package tlscert keeps the certificates a TLS listener serves, and swaps
// them when their files change, so that a renewed certificate is served
// without a restart and without dropping a connection: a connection keeps
// the certificate of its handshake, and new handshakes get the new one.
//
// It exists because crypto/tls reads certificates once (tls.LoadX509KeyPair)
// and leaves reloading to the program. A Store polls its files (a hash of
// their contents) instead of using file-system notifications: reading a few
// kilobytes every few seconds costs nothing, works on every platform and
// through the symbolic links that Kubernetes secrets and certbot swap, and
// needs no dependency. A set of files that fails to load (a key that does
// not match its certificate, a half-written file) is refused and the
// certificates already loaded keep serving.
package tlscert
