package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fuzzFile is the name the fuzzed files are parsed under. It has no
// directory, so the relative file names a file may hold (keys,
// certificates) are taken from the package directory, and resolving them
// again is the identity: validate can be run twice on the same Config.
const fuzzFile = "fuzz.yaml"

// fuzzNodes is a static registry of one service, svc (errors_test.go's
// nodes, which package config_test holds).
const fuzzNodes = "registry:\n  static:\n    - {service: svc, address: \"127.0.0.1:9000\"}\n"

// FuzzLoad feeds arbitrary bytes to Parse, the entry point of every file
// and Consul KV value, and checks the promises of the package: it never
// panics or hangs (the fuzz engine's per-input timeout catches a hang; an
// alias bomb must be refused by maxNodes); it either returns a Config that
// passes validation, or an error that names its file, line and column; and
// it gives the same answer for the same bytes.
func FuzzLoad(f *testing.F) {
	// testdata/valid/full.yaml reads its HMAC secret from the environment.
	f.Setenv("SLUICE_TEST_HMAC_SECRET", "a secret of at least thirty-two bytes, for HS256")

	// The repository's configuration files: the embedded default, the
	// valid and broken files of testdata and the compose example.
	files := []string{"default.yaml", filepath.Join("..", "deploy", "compose", "gateway.yaml")}
	for _, pattern := range []string{"testdata/*/*.yaml", "testdata/*/*.yml"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		files = append(files, m...)
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatalf("seed %s: %v", name, err)
		}
		f.Add(data)
	}

	// Hostile snippets.
	var laughs strings.Builder // ten levels of ten aliases: 10^10 leaves
	laughs.WriteString("a0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&laughs, "a%d: &l%d [%s]\n", i, i, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*l%d, ", i-1), 10), ", "))
	}
	var mapLaughs strings.Builder // where the decoder does expand: string maps
	mapLaughs.WriteString("registry:\n  static:\n    - &n {service: s, address: \"127.0.0.1:1\", metadata: &m {a: b, c: d, e: f, g: h, i: j}}\n")
	for range 50 {
		mapLaughs.WriteString("    - *n\n")
	}
	snippets := []string{
		"",
		"\n",
		"# only a comment\n",
		"---\n",
		"~\n",
		"[]\n",
		"{}\n",
		"hello\n",
		fuzzNodes,
		fuzzNodes + "routes:\n  - {path: /a, service: svc}\n",
		// Anchors and aliases.
		fuzzNodes + "defaults:\n  budget: &b {timeout: 2s}\nroutes:\n  - {path: /a, service: svc, budget: *b}\n",
		"upstream: *nowhere\n",
		"upstream: &a {retry_budget: *a}\n",
		"upstream: &a {backoff: &a {base: 1s}, breaker: *a}\n",
		"upstream: &a\n  margin: *a\n",
		"upstream: !!map &a {margin: 1ms}\ndefaults: *a\n",
		"services: &s {a: *s}\n",
		laughs.String() + "routes: *l9\n",
		"trusted_proxies: &p [a, b, c, d, e, f, g, h, i, j]\nroutes: [*p, *p, *p, *p, *p, *p, *p, *p, *p, *p]\n",
		"routes:\n  - &l0 {path: /a}\n  - &l1 [*l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0]\n",
		mapLaughs.String(),
		// Deep nesting.
		"upstream: " + strings.Repeat("[", 500) + strings.Repeat("]", 500) + "\n",
		"upstream: " + strings.Repeat("{a: ", 200) + "x" + strings.Repeat("}", 200) + "\n",
		"routes:\n" + strings.Repeat("  - ", 100) + "x\n",
		// Beyond maxDepth and maxMappingEntries, where the parser's time
		// grows with the square (shape.go).
		"upstream: " + strings.Repeat("[", 5000) + strings.Repeat("]", 5000) + "\n",
		"upstream: " + strings.Repeat("{a: ", 2000) + "x" + strings.Repeat("}", 2000) + "\n",
		strings.Repeat("- ", 5000) + "x\n",
		strings.Repeat("? ", 5000) + "x\n",
		strings.Repeat("a: &a b\n", maxMappingEntries+1),
		// Duplicate keys.
		"upstream: {margin: 1ms}\nupstream: {margin: 2ms}\n",
		"registry: {kind: static, kind: consul}\n",
		"services: {a: {}, a: {}}\n",
		"auth: {jwt: {u: {}, u: {}}}\n",
		// Tabs, NUL bytes, invalid UTF-8, control characters.
		"listeners:\n\t- address: x\n",
		"upstream:\t{margin: 1ms}\n",
		"upstream: {margin: \"1ms\x00\"}\n",
		"\x00",
		"upstream:\x00\n",
		"registry: {kind: \xff\xfe}\n",
		"\xef\xbb\xbfupstream: {margin: 1ms}\n",
		"routes:\n  - {path: \"/\xc3\x28\", service: svc}\n",
		"routes:\n  - {path: \"/a\\u0000\", service: svc}\n",
		"\r\nupstream:\r\n  margin: 1ms\r\n",
		// Very long scalars and keys.
		"registry: {kind: " + strings.Repeat("x", 100_000) + "}\n",
		strings.Repeat("k", 10_000) + ": v\n",
		"routes:\n  - {path: /" + strings.Repeat("{a}", 1000) + ", service: svc}\n",
		// Numbers out of range and odd numbers.
		"upstream: {max_retries: 99999999999999999999999}\n",
		"upstream: {max_retries: 9223372036854775807}\n",
		"upstream: {max_retries: -9223372036854775808}\n",
		"upstream: {max_retries: 0x10}\n",
		"upstream: {max_retries: 1_000}\n",
		"upstream: {retry_budget: {ratio: 1e400}}\n",
		"upstream: {retry_budget: {ratio: nan}}\n",
		"upstream: {retry_budget: {ratio: .nan}}\n",
		"upstream: {concurrency_limit: {tolerance: inf}}\n",
		"upstream: {breaker: {failure_ratio: -0}}\n",
		"listeners: [{address: \"127.0.0.1:0\", redirect_https: true, https_port: 99999}]\n",
		// Durations.
		"shutdown_grace: -1s\n",
		"shutdown_grace: 1e400s\n",
		"shutdown_grace: 9999999999h\n",
		"shutdown_grace: 1.5\n",
		"shutdown_grace: 0\n",
		"shutdown_grace: +1s\n",
		"shutdown_grace: 1h-1s\n",
		"shutdown_grace: \"\"\n",
		"shutdown_grace: [1s]\n",
		"shutdown_grace: 1µs\n",
		// Unknown keys and wrong types.
		"listen: 127.0.0.1:80\n",
		"upstream: {margn: 1ms}\n",
		"? [a, b]\n: c\n",
		"services: {[a]: {}}\n",
		"registry: [static]\n",
		"routes: {path: /a}\n",
		"upstream: {max_retries: two}\n",
		"listeners: [{h2c: yes}]\n",
		"admin: 42\n",
		"upstream: {retry_budget: {floor: !!str 1}}\n",
		"upstream: !!binary aGVsbG8=\n",
		"upstream: !custom {margin: 1ms}\n",
		// Environment references.
		"registry: {kind: ${SLUICE_FUZZ_UNSET}}\n",
		"registry: {kind: \"${SLUICE_FUZZ_UNSET:-consul}\"}\n",
		"registry: {kind: \"$${x}\"}\n",
		"registry: {kind: \"${\"}\n",
		"registry: {kind: \"${1BAD}\"}\n",
		"registry: {kind: |\n    a\n    ${SLUICE_FUZZ_UNSET}\n}\n",
		"auth: {jwt: {u: {algorithms: [HS256], keys: [{hmac_secret_env: SLUICE_FUZZ_UNSET}]}}}\n",
		// Several documents.
		"routes: []\n---\nroutes: []\n",
		"---\nroutes: []\n...\n---\n",
		"routes: []\n---\n: : [\n",
		"%YAML 1.2\n---\nroutes: []\n",
		// Files the configuration names.
		"auth: {jwt: {u: {algorithms: [ES256], keys: [{public_key_file: default.yaml}]}}}\n",
		"listeners: [{address: \"127.0.0.1:0\", tls: {cert_file: nowhere.pem, key_file: nowhere.pem}}]\n",
	}
	for _, s := range snippets {
		f.Add([]byte(s))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		c1, err1 := Parse(fuzzFile, data)
		checkParsed(t, c1, err1)

		// The same bytes give the same answer.
		c2, err2 := Parse(fuzzFile, data)
		switch {
		case (err1 == nil) != (err2 == nil):
			t.Fatalf("two loads of the same bytes: %v, then %v", err1, err2)
		case err1 != nil:
			if err1.Error() != err2.Error() {
				t.Fatalf("two loads of the same bytes fail differently:\n%v\n%v", err1, err2)
			}
		default:
			if !equalExported(reflect.ValueOf(c1).Elem(), reflect.ValueOf(c2).Elem()) {
				t.Fatalf("two loads of the same bytes differ:\n%+v\n%+v", c1, c2)
			}
		}
	})
}

// checkParsed checks what Parse returned: a Config that passes validation
// again, or an error whose every part names the file, line and column.
func checkParsed(t *testing.T, c *Config, err error) {
	t.Helper()
	if err == nil {
		if c == nil {
			t.Fatal("Parse returned neither a Config nor an error")
		}
		if c.File() != fuzzFile {
			t.Fatalf("File() = %q, want %q", c.File(), fuzzFile)
		}
		// Validation after the defaults accepts what Parse returned. (A
		// second validate rebuilds the verifiers and resolves file names
		// again, which fuzzFile makes harmless.)
		if err := c.validate(); err != nil {
			t.Fatalf("Parse returned a Config that validation refuses: %v", err)
		}
		return
	}
	if c != nil {
		t.Fatalf("Parse returned both a Config and the error %v", err)
	}
	for _, e := range leafErrors(err) {
		var ce *Error
		if !errors.As(e, &ce) {
			t.Fatalf("error %q (%T) is not a *config.Error", e, e)
		}
		if ce.File != fuzzFile {
			t.Fatalf("error %q names the file %q, want %q", e, ce.File, fuzzFile)
		}
		// The one error without a place is the empty file's
		// (TestParseEmpty): there is nothing to point at.
		if ce.Line == 0 && ce.Column == 0 && ce.Msg == "the file is empty" {
			continue
		}
		if ce.Line <= 0 || ce.Column <= 0 {
			t.Fatalf("error %q has no line and column (line %d, column %d)", e, ce.Line, ce.Column)
		}
		if want := fmt.Sprintf("%s:%d:%d: ", fuzzFile, ce.Line, ce.Column); !strings.HasPrefix(e.Error(), want) {
			t.Fatalf("error %q does not start with %q", e, want)
		}
	}
}

// leafErrors returns the errors joined in err (validate joins one per part
// of the configuration), or err itself.
func leafErrors(err error) []error {
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		return []error{err}
	}
	var out []error
	for _, e := range j.Unwrap() {
		out = append(out, leafErrors(e)...)
	}
	return out
}

// equalExported is reflect.DeepEqual on the exported fields of structs
// only. The unexported ones are what validation built from the exported
// ones (verifiers, JWKS clients, CORS and compression middleware, trusted
// proxies, certificate pools) and hold functions, mutexes and caches that
// differ between two builds of the same settings; pos and hash are derived
// from the same bytes.
func equalExported(a, b reflect.Value) bool {
	if a.Kind() != b.Kind() || a.Type() != b.Type() {
		return false
	}
	switch a.Kind() {
	case reflect.Struct:
		for i := 0; i < a.NumField(); i++ {
			if a.Type().Field(i).IsExported() && !equalExported(a.Field(i), b.Field(i)) {
				return false
			}
		}
		return true
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return a.IsNil() == b.IsNil()
		}
		return equalExported(a.Elem(), b.Elem())
	case reflect.Slice:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return false
		}
		for i := 0; i < a.Len(); i++ {
			if !equalExported(a.Index(i), b.Index(i)) {
				return false
			}
		}
		return true
	case reflect.Map:
		if a.IsNil() != b.IsNil() || a.Len() != b.Len() {
			return false
		}
		for _, k := range a.MapKeys() {
			bv := b.MapIndex(k)
			if !bv.IsValid() || !equalExported(a.MapIndex(k), bv) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a.Interface(), b.Interface())
}
