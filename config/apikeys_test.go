package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const digestA = "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae" // sha256("foo")
const digestB = "fcde2b2edba56bf408601fb721fe9b5c338d10ee429ea04fae5511b68fbf8fb9" // sha256("bar")

// TestAPIKeyFileErrorsSayWhereInIt: a keys file's mistakes are refused
// with its name, line and column, as the configuration's are.
func TestAPIKeyFileErrorsSayWhereInIt(t *testing.T) {
	for _, tc := range []struct{ name, text, want string }{
		{"bad digest", "keys:\n  - {name: a, sha256: abc}\n", "keys.yaml:2:23: keys[0].sha256: \"abc\" is not a hex SHA-256 digest"},
		{"no name", "keys:\n  - sha256: " + digestA + "\n", "keys.yaml:2:5: keys[0].name: required"},
		{"name twice", "keys:\n  - {name: a, sha256: " + digestA + "}\n  - {name: a, sha256: " + digestB + "}\n", "keys.yaml:3:12: keys[1].name: \"a\" is keys[0]'s name too"},
		{"digest twice", "keys:\n  - {name: a, sha256: " + digestA + "}\n  - {name: b, sha256: " + digestA + "}\n", "keys[1].sha256: the digest of keys[0] (a) too"},
		{"sub claim", "keys:\n  - name: a\n    sha256: " + digestA + "\n    claims: {sub: [root]}\n", "keys.yaml:4:19: keys[0].claims.sub: the sub claim is the key's name"},
		{"unknown field", "keys:\n  - {name: a, key: foo}\n", "keys.yaml:2:15: keys[0]: unknown field \"key\""},
		{"not a list", "keys: {name: a}\n", "keys.yaml:1:7: keys"},
		{"empty", "", "keys.yaml: the file is empty"},
	} {
		_, err := ParseAPIKeys("keys.yaml", []byte(tc.text))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", tc.name, err, tc.want)
		}
	}
	keys, err := ParseAPIKeys("keys.yaml", []byte("keys:\n  - {name: a, sha256: "+digestA+", claims: {scope: [x, y]}}\n  - {name: b, sha256: "+strings.ToUpper(digestB)+"}\n"))
	if err != nil || len(keys) != 2 || keys[0].Name != "a" || len(keys[0].Claims["scope"]) != 2 || keys[1].SHA256[0] != 0xfc {
		t.Fatalf("keys %+v, %v", keys, err)
	}
}

// TestAPIKeyProvidersAreCheckedAtLoad: a provider's file is read at load
// (a relative name from the configuration's directory), its header must be
// a field the gateway does not keep, its name no JWT provider's; a route
// may name it in auth, and limit or require claims by it.
func TestAPIKeyProvidersAreCheckedAtLoad(t *testing.T) {
	t.Setenv("SLUICE_TEST_HMAC", "0123456789abcdef0123456789abcdef")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "keys.yaml"), []byte("keys:\n  - {name: acme, sha256: "+digestA+"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := "registry:\n  static:\n    - {service: s, address: 127.0.0.1:1}\n"
	route := "routes:\n  - {path: /a, service: s, auth: partners, rate_limit: {rps: 5, key: subject}, require_claims: {sub: [acme]}}\n"
	for _, tc := range []struct{ name, auth, want string }{
		{"no file", "auth:\n  api_keys:\n    partners: {header: X-Key}\n", "gateway.yaml:6:15: auth.api_keys.partners.keys_file: required"},
		{"missing file", "auth:\n  api_keys:\n    partners: {keys_file: nope.yaml}\n", "auth.api_keys.partners.keys_file: open "},
		{"owned header", "auth:\n  api_keys:\n    partners: {keys_file: keys.yaml, header: X-Forwarded-For}\n", "auth.api_keys.partners.header: header X-Forwarded-For is the gateway's own"},
		{"jwt name too", "auth:\n  jwt:\n    partners: {algorithms: [HS256], keys: [{hmac_secret_env: SLUICE_TEST_HMAC}]}\n  api_keys:\n    partners: {keys_file: keys.yaml}\n", "auth.api_keys.partners: \"partners\" names an auth.jwt provider too"},
	} {
		_, err := ParseIn("gateway.yaml", dir, []byte(base+tc.auth+route))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want it to contain %q", tc.name, err, tc.want)
		}
	}
	c, err := ParseIn("gateway.yaml", dir, []byte(base+"auth:\n  api_keys:\n    partners: {keys_file: keys.yaml}\n"+route))
	if err != nil {
		t.Fatal(err)
	}
	if a := c.APIKeys("partners"); a == nil || a.Len() != 1 || a.Header() != "X-Api-Key" {
		t.Fatalf("provider %+v", a)
	}
	if p := c.Auth.APIKeys["partners"]; p.KeysFile != filepath.Join(dir, "keys.yaml") {
		t.Errorf("keys_file %q, want it from the configuration's directory", p.KeysFile)
	}
}
