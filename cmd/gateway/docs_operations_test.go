package main

import (
	"os"
	"strings"
	"testing"
)

// TestOperationsDoc checks what docs/operations.md shows of the commands
// against the commands: the route table of the embedded default as routes
// prints it, and healthcheck's defaults.
func TestOperationsDoc(t *testing.T) {
	data, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	code, table, stderr := invoke(t, "", nil, "routes", "../../config/default.yaml")
	if code != 0 {
		t.Fatalf("routes: %s", stderr)
	}
	if want := "$ gateway routes config/default.yaml\n" + table + "```"; !strings.Contains(doc, want) {
		t.Errorf("docs/operations.md does not show what routes prints:\n%s", want)
	}
	c := &cli{getenv: func(string) string { return "" }}
	for _, want := range []string{
		"within `-timeout` (default " + defaultHealthTimeout.String() + ")",
		"The default URL is `/healthz` on\n`127.0.0.1`, at the port of `$" + envListen + "`, or 8080",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("docs/operations.md does not say %q", want)
		}
	}
	if got := c.defaultHealthURL(); got != "http://127.0.0.1:8080/healthz" {
		t.Errorf("the default URL is %s, not what docs/operations.md says", got)
	}
}
