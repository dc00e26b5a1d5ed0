package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// invalidDir holds the broken files that validate and the schema must
// both refuse (config's schema test says which the schema can see).
const invalidDir = "../../config/testdata/invalid"

// TestValidateBrokenFiles runs validate on each broken file: exit status
// 1, and one line on stderr that starts with the file, line and column of
// the fault and names its key.
func TestValidateBrokenFiles(t *testing.T) {
	tests := map[string]struct {
		at, key, msg string // line:column, key path, in the message
	}{
		"address-without-port":     {"2:14", "listeners[0].address", "must be host:port"},
		"bad-duration":             {"1:17", "shutdown_grace", `bad duration "5 seconds"`},
		"bad-endpoint":             {"7:15", "routes[0].endpoint", "Service.Method"},
		"bool-typo":                {"8:20", "routes[0].budget.allow_raise", `got "ture"`},
		"budget-min-above-timeout": {"7:13", "routes[0].budget", "min (2s) must not exceed timeout (1s)"},
		"conflicting-routes":       {"7:11", "routes[1].path", "conflicts with route 0"},
		"cors-without-origins":     {"7:11", "routes[0].cors.origins", "list the origins"},
		"duration-without-unit":    {"6:14", "defaults.budget.timeout", `"5" has no unit`},
		"jwt-key-two-sources":      {"6:11", "auth.jwt.p.keys[0]", "exactly one of"},
		"negative-duration":        {"2:11", "upstream.margin", "must not be negative"},
		"rate-limit-zero-rps":      {"7:23", "routes[0].rate_limit.rps", "above 0"},
		"retries-below-minus-one":  {"2:16", "upstream.max_retries", "-1"},
		"retry-ratio-above-one":    {"3:12", "upstream.retry_budget.ratio", "between 0 and 1"},
		"route-without-service":    {"5:5", "routes[0].service", "needs a service"},
		"unknown-key":              {"6:5", "routes[0]", `unknown field "servce"`},
		"unknown-method":           {"5:13", "routes[0].method", `"FETCH"`},
		"unknown-registry-kind":    {"2:9", "registry.kind", `"etcd"`},
		"unknown-service":          {"6:14", "routes[0].service", `"nope"`},
		"unknown-strategy":         {"6:15", "services.svc.strategy", `"fastest"`},
		"yaml-syntax":              {"6:4", "", "YAML syntax"},
	}
	files, err := filepath.Glob(filepath.Join(invalidDir, "*.yaml"))
	if err != nil || len(files) != len(tests) {
		t.Fatalf("%d broken files (%v), %d in the table", len(files), err, len(tests))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			tt, ok := tests[name]
			if !ok {
				t.Fatalf("%s is not in the table", f)
			}
			code, stdout, stderr := invoke(t, "", nil, "validate", f)
			if code != 1 || stdout != "" {
				t.Errorf("exit %d, stdout %q: want 1 and nothing", code, stdout)
			}
			prefix := fmt.Sprintf("%s:%s: ", f, tt.at)
			if tt.key != "" {
				prefix += tt.key + ": "
			}
			if !strings.HasPrefix(stderr, prefix) || !strings.Contains(stderr, tt.msg) || strings.Count(stderr, "\n") != 1 {
				t.Errorf("stderr %q: want one line starting %q and saying %q", stderr, prefix, tt.msg)
			}
		})
	}
}

func TestValidateGoodFilesAndStdin(t *testing.T) {
	good := filepath.Join(t.TempDir(), "ok.yaml")
	writeFile(t, good, configText("127.0.0.1:9", "  - {path: /a, service: svc}\n  - {path: /b, service: svc}\n"))
	code, stdout, stderr := invoke(t, "", nil, "validate", good, "../../config/default.yaml")
	if code != 0 || stderr != "" || stdout != good+": ok (2 routes)\n../../config/default.yaml: ok (3 routes)\n" {
		t.Errorf("validate good files: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}
	if code, stdout, _ := invoke(t, "", nil, "validate", "-q", good); code != 0 || stdout != "" {
		t.Errorf("validate -q: exit %d, stdout %q", code, stdout)
	}

	// Good and bad together: every file is checked, the status is 1.
	bad := filepath.Join(invalidDir, "unknown-key.yaml")
	code, stdout, stderr = invoke(t, "", nil, "validate", bad, good, filepath.Join(invalidDir, "bad-duration.yaml"))
	if code != 1 || stdout != good+": ok (2 routes)\n" || strings.Count(stderr, "\n") != 2 {
		t.Errorf("validate bad good bad: exit %d, stdout %q, stderr %q", code, stdout, stderr)
	}

	// Standard input is named stdin in messages.
	text, err := os.ReadFile(bad)
	if err != nil {
		t.Fatal(err)
	}
	code, _, stderr = invoke(t, string(text), nil, "validate", "-")
	if code != 1 || !strings.HasPrefix(stderr, "stdin:6:5: routes[0]: unknown field") {
		t.Errorf("validate - < bad: exit %d, stderr %q", code, stderr)
	}
	if code, stdout, _ := invoke(t, "routes: []\n", nil, "validate", "-"); code != 0 || stdout != "stdin: ok (0 routes)\n" {
		t.Errorf("validate - < good: exit %d, stdout %q", code, stdout)
	}
	big := strings.Repeat("#\n", 1<<20)
	if code, _, stderr := invoke(t, big, nil, "validate", "-"); code != 1 || !strings.Contains(stderr, "stdin: larger than") {
		t.Errorf("validate - < 2 MiB: exit %d, stderr %q", code, stderr)
	}
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	if code, _, stderr := invoke(t, "", nil, "validate", missing); code != 1 || !strings.Contains(stderr, missing) {
		t.Errorf("validate missing: exit %d, stderr %q", code, stderr)
	}
}

// TestValidateReportsEachPartsError: a file with mistakes in independent
// parts (a listener, the upstream settings, a route) gets one line for each,
// in the file's order, each at its own line and column.
func TestValidateReportsEachPartsError(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "three.yaml")
	writeFile(t, bad, `listeners:
  - address: "8080"
registry:
  static:
    - {service: svc, address: "127.0.0.1:9"}
upstream:
  max_retries: -2
routes:
  - {path: /a, service: nope}
`)
	code, _, stderr := invoke(t, "", nil, "validate", bad)
	want := []string{
		bad + ":2:14: listeners[0].address: ",
		bad + ":7:16: upstream.max_retries: ",
		bad + ":9:25: routes[0].service: ",
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	if code != 1 || len(lines) != len(want) {
		t.Fatalf("validate: exit %d, stderr:\n%s\nwant %d lines", code, stderr, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d: %q, want it to start %q", i+1, lines[i], w)
		}
	}
}
