// Package source fetches the text of the gateway's configuration and says
// when it changed: from a file, watched with fsnotify (editors' rename-replace
// and Kubernetes' ConfigMap symlink swaps included), or from a Consul KV key,
// watched with blocking queries.
//
// It exists so that every way a configuration arrives ends in the same place:
// the caller parses each Text with config.Parse, and only a text that parses
// and validates replaces the running configuration. A source never judges
// the text; it hands over every version it sees, at most once each.
package source
