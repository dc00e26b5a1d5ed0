package config

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/sluicehq/sluice/internal/tlscert"
	"github.com/sluicehq/sluice/middleware"
)

// APIKeyProvider checks the API key of each request of the routes that
// name it (middleware.APIKeys) against a file of the keys' digests.
type APIKeyProvider struct {
	// Header is the request field the key is sent in. Default X-Api-Key
	// (middleware.DefaultAPIKeyHeader).
	Header string `yaml:"header"`
	// KeysFile names the file of the keys (see APIKeyFile); required. A
	// relative name is taken from the configuration file's directory. It
	// is read again when it changes on disk, and on SIGHUP.
	KeysFile string `yaml:"keys_file"`
	// ForwardName, when set, names the request field the key's name is
	// sent to the backend in; the gateway removes the client's own from
	// every request, as it does the JWT providers' forward_claims fields.
	ForwardName string `yaml:"forward_name"`
}

// APIKeyFile is the text of a keys file: the keys' digests, never the
// keys.
type APIKeyFile struct {
	Keys []APIKeyEntry `yaml:"keys"`
}

// APIKeyEntry is one key of a keys file.
type APIKeyEntry struct {
	// Name names the key's holder: the subject of its requests (rate
	// limits by subject, logs). Required, once in the file.
	Name string `yaml:"name"`
	// SHA256 is the hex SHA-256 digest of the key, as sha256sum prints
	// it. Required.
	SHA256 string `yaml:"sha256"`
	// Claims are the key's claims, for a route's require_claims:
	// {scope: ["orders:read"]}.
	Claims map[string][]string `yaml:"claims"`
}

// MaxAPIKeyFileBytes bounds a keys file: some 10,000 keys.
const MaxAPIKeyFileBytes = 4 << 20

// LoadAPIKeys reads and parses a keys file (ParseAPIKeys), of at most
// 4 MiB and no special file.
func LoadAPIKeys(file string) ([]middleware.APIKey, error) {
	data, err := tlscert.ReadFile(file, MaxAPIKeyFileBytes)
	if err != nil {
		return nil, err
	}
	return ParseAPIKeys(file, data)
}

// ParseAPIKeys parses the text of a keys file, named file in errors,
// which say where in it they are, as the configuration's do. A file with
// a name or a digest twice is refused.
func ParseAPIKeys(file string, data []byte) ([]middleware.APIKey, error) {
	f, err := parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		return nil, syntaxError(file, err)
	}
	var body ast.Node
	for _, doc := range f.Docs {
		if doc.Body != nil {
			if body != nil {
				return nil, &Error{File: file, Msg: "more than one YAML document"}
			}
			body = doc.Body
		}
	}
	if body == nil {
		return nil, &Error{File: file, Msg: "the file is empty"}
	}
	var text APIKeyFile
	pos := make(map[string]Pos)
	d := &decoder{file: file, pos: pos} // no environment references: a digest is no secret
	if err := d.decode(body, reflect.ValueOf(&text).Elem(), ""); err != nil {
		return nil, err
	}
	at := func(path, format string, args ...any) error { return errorIn(file, pos, path, format, args...) }
	keys := make([]middleware.APIKey, len(text.Keys))
	names := make(map[string]int, len(text.Keys))
	digests := make(map[[32]byte]int, len(text.Keys))
	for i, e := range text.Keys {
		path := fmt.Sprintf("keys[%d]", i)
		if e.Name == "" {
			return nil, at(path+".name", "required: who holds the key")
		}
		if j, ok := names[e.Name]; ok {
			return nil, at(path+".name", "%q is keys[%d]'s name too", e.Name, j)
		}
		sum, err := middleware.ParseSHA256(e.SHA256)
		if err != nil {
			return nil, at(path+".sha256", "%v", err)
		}
		if j, ok := digests[sum]; ok {
			return nil, at(path+".sha256", "the digest of keys[%d] (%s) too: one key, two holders", j, text.Keys[j].Name)
		}
		if _, ok := e.Claims["sub"]; ok {
			return nil, at(path+".claims.sub", "the sub claim is the key's name")
		}
		names[e.Name], digests[sum] = i, i
		keys[i] = middleware.APIKey{Name: e.Name, SHA256: sum, Claims: e.Claims}
	}
	return keys, nil
}

// buildAPIKeys reads every API key provider's file and builds its checker.
func (c *Config) buildAPIKeys() error {
	c.apiKeys = make(map[string]*middleware.APIKeys, len(c.Auth.APIKeys))
	for _, name := range slices.Sorted(maps.Keys(c.Auth.APIKeys)) {
		p, path := c.Auth.APIKeys[name], "auth.api_keys."+name
		if err := checkProviderName(name); err != nil {
			return c.errorAt(path, "%v", err)
		}
		if _, ok := c.Auth.JWT[name]; ok {
			return c.errorAt(path, "%q names an auth.jwt provider too: a route's auth must name one", name)
		}
		if p.KeysFile == "" {
			return c.errorAt(path+".keys_file", "required: the file of the keys' digests")
		}
		p.KeysFile = c.resolve(p.KeysFile)
		c.Auth.APIKeys[name] = p
		keys, err := LoadAPIKeys(p.KeysFile)
		if err != nil {
			return c.errorAt(path+".keys_file", "%v", err)
		}
		a, err := middleware.NewAPIKeys(p.Header, p.ForwardName, keys)
		if err != nil {
			field := ".header"
			if strings.HasPrefix(err.Error(), "forward_name") {
				field = ".forward_name"
			}
			return c.errorAt(path+field, "%v", err)
		}
		c.apiKeys[name] = a
	}
	return nil
}

// APIKeys returns the checker of the auth.api_keys provider name, built
// with the keys its file held when the configuration loaded, or nil.
func (c *Config) APIKeys(name string) *middleware.APIKeys { return c.apiKeys[name] }
