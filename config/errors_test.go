package config_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/config"
)

// nodes is a static registry of one service, svc, on lines 1 to 3; routes
// written after it start on line 4.
const nodes = "registry:\n  static:\n    - {service: svc, address: \"127.0.0.1:9000\"}\n"

func TestParseErrorsPointAtTheToken(t *testing.T) {
	tests := []struct {
		name      string
		yaml      string
		line, col int
		path      string
		msg       string // in the message
	}{
		// Decoding.
		{"unknown field", nodes + "routes:\n  - path: /a\n    servce: svc\n", 6, 5, "routes[0]", `unknown field "servce"`},
		{"unknown top-level field", "listen: 127.0.0.1:80\n", 1, 1, "", `unknown field "listen"`},
		{"duration without unit", "defaults:\n  budget:\n    timeout: 5\n", 3, 14, "defaults.budget.timeout", `"5" has no unit`},
		{"fraction without unit", "shutdown_grace: 1.5\n", 1, 17, "shutdown_grace", "has no unit"},
		{"bad duration", "shutdown_grace: 5 seconds\n", 1, 17, "shutdown_grace", `bad duration "5 seconds"`},
		{"negative duration", "upstream:\n  margin: -1ms\n", 2, 11, "upstream.margin", "must not be negative"},
		{"list as duration", "upstream:\n  margin: [1ms]\n", 2, 11, "upstream.margin", "expected a duration"},
		{"bool typo", nodes + "routes:\n  - path: /a\n    service: svc\n    budget:\n      allow_raise: ture\n",
			8, 20, "routes[0].budget.allow_raise", `expected true or false, got "ture"`},
		{"list where mapping expected", "registry: [static]\n", 1, 11, "registry", "expected a mapping, got a list"},
		{"mapping where list expected", "routes: {path: /a}\n", 1, 9, "routes", "expected a list, got a mapping"},
		{"list where value expected", nodes + "routes:\n  - path: [/a]\n", 5, 11, "routes[0].path", "expected a single value"},
		{"not a number", "upstream:\n  max_retries: two\n", 2, 16, "upstream.max_retries", "expected a whole number"},
		{"not a mapping at all", "hello\n", 1, 1, "", "expected a mapping"},
		{"duplicate field", nodes + "routes:\n  - path: /a\n    path: /b\n", 6, 5, "routes[0]", `duplicate field "path"`},
		{"duplicate flow field", "registry: {kind: static, kind: consul}\n", 1, 26, "registry", `duplicate field "kind"`},
		{"duplicate metadata key", "registry:\n  static:\n    - service: svc\n      address: \"127.0.0.1:1\"\n      metadata: {a: x, a: y}\n",
			5, 24, "registry.static[0].metadata", `duplicate key "a"`},

		// Validation.
		{"bad listener address", "listeners:\n  - address: \"8080\"\n", 2, 14, "listeners[0].address", "must be host:port"},
		{"bad admin address", "admin: {address: localhost}\n", 1, 18, "admin.address", "must be host:port"},
		{"unknown listener server", "listeners:\n  - address: 127.0.0.1:0\n    server: nginx\n", 3, 13, "listeners[0].server", `unknown server "nginx"`},
		{"watch_after on net/http", "listeners:\n  - {address: 127.0.0.1:0, server: net/http, watch_after: 5ms}\n", 2, 59, "listeners[0].watch_after", "applies to server"},
		{"watch_after on the admin's default server", "admin: {address: 127.0.0.1:0, watch_after: 1s}\n", 1, 44, "admin.watch_after", "applies to that server only"},
		{"unknown admin server", "admin: {address: 127.0.0.1:0, server: h2}\n", 1, 39, "admin.server", `unknown server "h2"`},
		{"unknown registry kind", "registry:\n  kind: etcd\n", 2, 9, "registry.kind", `unknown registry kind "etcd"`},
		{"negative max body", nodes + "routes:\n  - {path: /a, service: svc, max_body_bytes: -1}\n", 5, 46, "routes[0].max_body_bytes", "must not be negative"},
		{"negative default max body", "defaults:\n  max_body_bytes: -5\n", 2, 19, "defaults.max_body_bytes", "must not be negative"},
		{"rpc max body over the held bodies", nodes + "limits: {max_held_body_bytes: 2097152}\nroutes:\n  - {path: /a, service: svc, endpoint: A.B, max_body_bytes: 3000000}\n", 6, 61, "routes[0].max_body_bytes", "more than limits.max_held_body_bytes"},
		{"rpc default max body over the held bodies", nodes + "defaults: {max_body_bytes: 200000000}\nroutes:\n  - {path: /a, service: svc, endpoint: A.B}\n", 4, 28, "defaults.max_body_bytes", "more than limits.max_held_body_bytes (134217728)"},
		{"owned request header", nodes + "routes:\n  - {path: /a, service: svc, headers: {request: {set: {Host: x}}}}\n", 5, 39, "routes[0].headers", "Host is the gateway's"},
		{"bad default header value", "defaults:\n  headers: {response: {set: {X-A: \" a\"}}}\n", 2, 12, "defaults.headers", "cannot travel"},
		{"require_claims without auth", nodes + "routes:\n  - {path: /a, service: svc, require_claims: {scope: [admin]}}\n", 5, 46, "routes[0].require_claims", "needs auth"},
		{"bad allow_from", nodes + "routes:\n  - {path: /a, service: svc, allow_from: [10.0.0.0/8, 10.0.0.300]}\n", 5, 55, "routes[0].allow_from[1]", "neither a CIDR prefix nor an IP address"},
		{"route host with a port", nodes + "routes:\n  - {path: /a, service: svc, hosts: [\"api.test:443\"]}\n", 5, 37, "routes[0].hosts", "no port"},
		{"dns refresh too short", "registry:\n  dns_refresh: 10ms\n", 2, 16, "registry.dns_refresh", "at least 100ms"},
		{"dns server by name", "registry:\n  dns_server: ns1:53\n", 2, 15, "registry.dns_server", "not an IP address and port"},
		{"dns server without port", "registry:\n  dns_server: 10.0.0.2\n", 2, 15, "registry.dns_server", "not an IP address and port"},
		{"bad static node", "registry:\n  static:\n    - {service: svc, address: nowhere}\n", 3, 7, "registry.static[0]", "host:port"},
		{"retries below -1", "upstream:\n  max_retries: -2\n", 2, 16, "upstream.max_retries", "-1"},
		{"bad default budget", "defaults:\n  budget: {timeout: 1s, max: 500ms}\n", 2, 11, "defaults.budget", "max (500ms) must be at least timeout (1s)"},
		{"reserved path", nodes + "routes:\n  - path: /healthz\n    service: svc\n", 5, 11, "routes[0].path", "served by the gateway itself"},
		{"reserved path, second", nodes + "routes:\n  - {path: /a, service: svc}\n  - {path: /readyz, service: svc}\n", 6, 12, "routes[1].path", "/readyz"},
		{"service with no static node", nodes + "routes:\n  - path: /a\n    service: nope\n", 6, 14, "routes[0].service", `"nope"`},
		{"conflicting routes", nodes + "routes:\n  - path: /u/{id}\n    service: svc\n  - path: /u/{name}\n    service: svc\n",
			7, 11, "routes[1].path", "conflicts with route 0"},
		{"budget min above timeout", nodes + "routes:\n  - path: /a\n    service: svc\n    budget: {timeout: 1s, min: 2s}\n",
			7, 13, "routes[0].budget", "min (2s) must not exceed timeout (1s)"},
		{"budget min above inherited timeout", nodes + "defaults: {budget: {timeout: 1s}}\nroutes:\n  - path: /a\n    service: svc\n    budget:\n      min: 2s\n",
			9, 7, "routes[0].budget", "must not exceed timeout (1s)"},
		{"bad method", nodes + "routes:\n  - method: fetch\n    path: /a\n    service: svc\n", 5, 13, "routes[0].method", "FETCH"},
		{"bad endpoint", nodes + "routes:\n  - path: /a\n    service: svc\n    endpoint: Hello\n", 7, 15, "routes[0].endpoint", "Service.Method"},
		{"rewrite on RPC route", nodes + "routes:\n  - path: /a/*\n    service: svc\n    endpoint: A.B\n    rewrite: /x/\n",
			8, 14, "routes[0].rewrite", "RPC"},
		{"upgrades on RPC route", nodes + "routes:\n  - path: /a\n    service: svc\n    endpoint: A.B\n    upgrades: [websocket]\n",
			8, 15, "routes[0].upgrades", "not RPC routes"},
		{"upgrades not a token", nodes + "routes:\n  - {path: /a, service: svc, upgrades: [websocket, \"h 2\"]}\n",
			5, 52, "routes[0].upgrades[1]", `"h 2"`},
		{"upgrades not a list", nodes + "routes:\n  - {path: /a, service: svc, upgrades: websocket}\n",
			5, 40, "routes[0].upgrades", "expected a list"},
		{"negative tunnel idle timeout", "limits:\n  tunnel_idle_timeout: -1s\n", 2, 24, "limits.tunnel_idle_timeout", "must not be negative"},
		{"bad path", nodes + "routes:\n  - path: /a/{id\n    service: svc\n", 5, 11, "routes[0].path", "unbalanced"},
		{"missing path: at the route", nodes + "routes:\n  - service: svc\n", 5, 5, "routes[0].path", "start with /"},

		// Syntax.
		{"bad indentation", "routes:\n  - path: /a\n   service: svc\n", 3, 4, "", "YAML syntax"},
		{"unclosed flow list", "listeners: [a, b\n", 1, 12, "", "YAML syntax"},
		{"mapping in a plain scalar", "shutdown_grace: a: b\n", 1, 17, "", "YAML syntax"},
		{"tab indentation", "listeners:\n\t- address: x\n", 2, 1, "", "YAML syntax"},
		{"two documents", "routes: []\n---\nroutes: []\n", 2, 1, "", "more than one YAML document"},
		{"garbage after the document", "routes: []\n---\n: : [\n", 3, 0, "", "YAML syntax"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse("gw.yaml", []byte(tt.yaml))
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Parse = %v (%T), want a *config.Error", err, err)
			}
			if ce.File != "gw.yaml" || ce.Line != tt.line || (tt.col != 0 && ce.Column != tt.col) || ce.Path != tt.path {
				t.Errorf("error at %s:%d:%d path %q, want gw.yaml:%d:%d path %q (%v)",
					ce.File, ce.Line, ce.Column, ce.Path, tt.line, tt.col, tt.path, err)
			}
			if ce.Column <= 0 {
				t.Errorf("error %v has no column", err)
			}
			if !strings.Contains(ce.Msg, tt.msg) {
				t.Errorf("message %q does not mention %q", ce.Msg, tt.msg)
			}
			want := fmt.Sprintf("gw.yaml:%d:%d: %s: %s", ce.Line, ce.Column, ce.Path, ce.Msg)
			if tt.path == "" {
				want = fmt.Sprintf("gw.yaml:%d:%d: %s", ce.Line, ce.Column, ce.Msg)
			}
			if err.Error() != want {
				t.Errorf("Error() = %q, want %q", err.Error(), want)
			}
		})
	}
}

func TestParseEmpty(t *testing.T) {
	for _, text := range []string{"", "\n\n", "# only a comment\n"} {
		_, err := config.Parse("gw.yaml", []byte(text))
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Line != 0 || err.Error() != "gw.yaml: the file is empty" {
			t.Errorf("Parse(%q) = %v, want %q", text, err, "gw.yaml: the file is empty")
		}
	}
}

// TestAliasExpansionIsBounded feeds files whose aliases expand far beyond
// their size: they must fail with an error, not be expanded in memory.
func TestAliasExpansionIsBounded(t *testing.T) {
	// Each alias re-reads a 2,000-entry mapping: 200 of them are 400,000
	// values from a file of some 30 kB.
	var b strings.Builder
	b.WriteString("registry:\n  static:\n    - &n {service: s, address: \"127.0.0.1:1\", metadata: {")
	for i := range 2000 {
		fmt.Fprintf(&b, "k%d: v, ", i)
	}
	b.WriteString("}}\n")
	for range 200 {
		b.WriteString("    - *n\n")
	}
	_, err := config.Parse("laughs.yaml", []byte(b.String()))
	var ce *config.Error
	if !errors.As(err, &ce) || !strings.Contains(ce.Msg, "expands to more than") || ce.Line == 0 {
		t.Errorf("Parse = %v, want an expansion error at a position", err)
	}

	// The classic form: ten levels of ten aliases, 10^10 leaves.
	b.Reset()
	b.WriteString("lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n")
	for i := 1; i < 10; i++ {
		fmt.Fprintf(&b, "lol%d: &l%d [", i, i)
		for j := range 10 {
			if j > 0 {
				b.WriteString(", ")
			}
			fmt.Fprintf(&b, "*l%d", i-1)
		}
		b.WriteString("]\n")
	}
	b.WriteString("routes: *l9\n")
	if _, err := config.Parse("laughs.yaml", []byte(b.String())); err == nil {
		t.Error("Parse accepted a billion laughs")
	}
	// The same aliases where the decoder does go: routes items must be
	// mappings, so the first level already fails.
	b.Reset()
	b.WriteString("routes:\n  - &l0 {path: /a}\n  - &l1 [*l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0, *l0]\n")
	if _, err := config.Parse("laughs.yaml", []byte(b.String())); err == nil {
		t.Error("Parse accepted a list as a route")
	}
}

// TestYAMLValueForms checks the value forms a configuration may use, as the
// one parser reads them: quoted, single-quoted and block strings, anchors and
// aliases, explicit tags and explicit nulls.
func TestYAMLValueForms(t *testing.T) {
	src := nodes + `defaults:
  budget: &b {timeout: "2s"}
routes:
  - path: '/a'
    service: !!str svc
    budget: *b
  - path: |-
      /b
    service: svc
    budget: ~
`
	c, err := config.Parse("gw.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Routes) != 2 || c.Routes[0].Path != "/a" || c.Routes[1].Path != "/b" || c.Routes[0].Service != "svc" {
		t.Fatalf("routes %+v", c.Routes)
	}
	if c.Routes[0].Budget.Timeout.String() != "2s" {
		t.Errorf("aliased budget: %v", c.Routes[0].Budget.Timeout)
	}
	_, err = config.Parse("gw.yaml", []byte("upstream: *nowhere\n"))
	if err == nil {
		t.Fatal("an unknown alias was accepted")
	}
}

// TestParseRefusesNonFiniteNumbers: strconv reads nan and inf, which no
// number field means and which range checks let through (NaN compares
// false), so that ratio: nan loaded as a retry budget of NaN. Found by
// FuzzLoad.
func TestParseRefusesNonFiniteNumbers(t *testing.T) {
	for _, tt := range []struct{ yaml, path string }{
		{"upstream:\n  retry_budget: {ratio: nan}\n", "upstream.retry_budget.ratio"},
		{"upstream:\n  breaker: {failure_ratio: NaN}\n", "upstream.breaker.failure_ratio"},
		{"upstream:\n  concurrency_limit: {tolerance: inf}\n", "upstream.concurrency_limit.tolerance"},
		{"upstream:\n  retry_budget: {floor: +Infinity}\n", "upstream.retry_budget.floor"},
		{"upstream:\n  retry_budget: {ratio: -inf}\n", "upstream.retry_budget.ratio"},
	} {
		_, err := config.Parse("gw.yaml", []byte(tt.yaml))
		var ce *config.Error
		if !errors.As(err, &ce) || ce.Line != 2 || ce.Path != tt.path || !strings.Contains(ce.Msg, "expected a number") {
			t.Errorf("Parse(%q) = %v, want an error at gw.yaml:2 %s: expected a number", tt.yaml, err, tt.path)
		}
	}
}

// TestParseBoundsTheShape: the parser takes time quadratic in the nesting
// depth and in the entries of one block mapping, so that a file of some
// 200 kB of brackets held it for more than a minute. Such files are refused,
// at the token beyond the bound, before they are parsed; a mapping of
// 5000 entries still loads.
func TestParseBoundsTheShape(t *testing.T) {
	keys := func(n int) string {
		var b strings.Builder
		b.WriteString("services:\n  s:\n    require:\n")
		for i := range n {
			fmt.Fprintf(&b, "      k%d: v\n", i)
		}
		return b.String()
	}
	tests := []struct {
		name, yaml string
		line, col  int
		msg        string
	}{
		{"flow", "upstream: " + strings.Repeat("[", 1001) + strings.Repeat("]", 1001) + "\n", 1, 1011, "nested more than 1000 levels"},
		{"flow mappings", "upstream: " + strings.Repeat("{a: ", 1001) + "x" + strings.Repeat("}", 1001) + "\n", 1, 4011, "nested more than 1000 levels"},
		{"compact sequences", "routes:\n" + strings.Repeat("- ", 1001) + "x\n", 2, 2001, "nested more than 1000 levels"},
		{"wide mapping", keys(5001), 5004, 7, "a mapping of more than 5000 entries"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse("gw.yaml", []byte(tt.yaml))
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Line != tt.line || ce.Column != tt.col || !strings.Contains(ce.Msg, tt.msg) {
				t.Errorf("Parse = %v, want gw.yaml:%d:%d: …%s…", err, tt.line, tt.col, tt.msg)
			}
		})
	}
	if _, err := config.Parse("gw.yaml", []byte(keys(5000))); err != nil {
		t.Errorf("a mapping of 5000 entries: %v", err)
	}
}
