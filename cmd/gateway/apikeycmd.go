package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
)

// keyHolderName is what api-key takes as a key's name: a YAML plain
// scalar without quoting, and a subject a log or a field can carry.
var keyHolderName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$`)

// apiKey makes a new API key for the holder its argument names: 32 random
// bytes, base64url, printed once with the line of the keys file that
// holds its digest (auth.api_keys; docs/auth.md). The key is kept
// nowhere: the operator gives it to its holder and writes the line.
func (c *cli) apiKey(args []string) error {
	fs := c.flags("api-key")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(rest) != 1 {
		return usagef("api-key: name the key's holder, once (gateway api-key NAME)")
	}
	name := rest[0]
	if !keyHolderName.MatchString(name) {
		return usagef("api-key: name %q: use letters, digits, '.', '_', '@' and '-', at most 128, from a letter or digit", name)
	}
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return err
	}
	key := base64.RawURLEncoding.EncodeToString(b[:])
	sum := sha256.Sum256([]byte(key))
	_, err = fmt.Fprintf(c.stdout, "# the key, for %s alone; it is kept nowhere else:\n%s\n# its line for the keys file:\n  - {name: %s, sha256: %s}\n",
		name, key, name, hex.EncodeToString(sum[:]))
	return err
}
