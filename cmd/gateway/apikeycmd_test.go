package main

import (
	"crypto/sha256"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/config"
)

// TestAPIKeyCommandPrintsAKeyAndItsLine: the key printed is the one whose
// digest the line holds, the line is a keys file's, and two runs make two
// keys.
func TestAPIKeyCommandPrintsAKeyAndItsLine(t *testing.T) {
	var keys []string
	for range 2 {
		code, stdout, stderr := invoke(t, "", nil, "api-key", "acme")
		if code != 0 {
			t.Fatalf("api-key: exit %d: %s", code, stderr)
		}
		lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
		if len(lines) != 4 {
			t.Fatalf("output:\n%s", stdout)
		}
		key := lines[1]
		parsed, err := config.ParseAPIKeys("keys.yaml", []byte("keys:\n"+lines[3]+"\n"))
		if err != nil || len(parsed) != 1 || parsed[0].Name != "acme" || parsed[0].SHA256 != sha256.Sum256([]byte(key)) {
			t.Fatalf("the line %q does not hold the key %q: %+v, %v", lines[3], key, parsed, err)
		}
		keys = append(keys, key)
	}
	if keys[0] == keys[1] || len(keys[0]) != 43 {
		t.Fatalf("keys %q", keys)
	}
	for _, args := range [][]string{{"api-key"}, {"api-key", "a", "b"}, {"api-key", "a b"}, {"api-key", "a:b"}} {
		if code, _, _ := invoke(t, "", nil, args...); code != 2 {
			t.Errorf("%q: exit %d, want 2", args, code)
		}
	}
}
