package source

import (
	"crypto/sha256"
	"encoding/hex"
)

// Text is one version of a configuration as its source holds it.
type Text struct {
	// Name names the source in errors: the file's path, or
	// consul://ADDRESS/KEY.
	Name string
	// Data is the configuration's YAML.
	Data []byte
	// Index is the Consul KV key's ModifyIndex; zero for a file.
	Index uint64
}

// Hash returns the hex SHA-256 of the text's bytes, as sha256sum prints it
// for the file (environment references are not expanded: a secret never
// shows in the hash).
func (t Text) Hash() string { return Hash(t.Data) }

// Hash returns the hex SHA-256 of data.
func Hash(data []byte) string {
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
}
