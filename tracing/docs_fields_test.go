package tracing

import (
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestDocsListTheContextFields: docs/tracing.md's list of the other
// formats' fields the gateway removes is the code's. Each name it gives is
// a contextField, and each foreign field the tests send is in it.
func TestDocsListTheContextFields(t *testing.T) {
	b, err := os.ReadFile("../docs/tracing.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(b)
	start := strings.Index(doc, "Sluice propagates W3C trace context only")
	end := strings.Index(doc[max(start, 0):], "\n\n")
	if start < 0 || end < 0 {
		t.Fatal("docs/tracing.md: no paragraph listing the other formats' fields")
	}
	para := doc[start : start+end]
	listed := map[string]bool{}
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(para, -1) {
		name := m[1]
		switch name {
		case "link", "_", "-", "sw8", "tracing/fields.go":
			continue // the setting, the spelling note, a format left out, the code
		}
		canon := http.CanonicalHeaderKey(strings.TrimSuffix(name, "*") + strings.Repeat("key", strings.Count(name, "*")))
		if !contextField(canon) {
			t.Errorf("docs/tracing.md lists %q, which the gateway does not remove", name)
		}
		listed[strings.ToLower(name)] = true
	}
	for _, f := range foreignContext {
		name := strings.ToLower(f[0])
		if strings.Contains(name, "_") {
			continue
		}
		if strings.HasPrefix(name, "uberctx-") || strings.HasPrefix(name, "ot-baggage-") {
			name = name[:strings.LastIndex(name, "-")+1] + "*" // a baggage prefix
		}
		if !listed[name] {
			t.Errorf("the gateway removes %q, which docs/tracing.md does not list", f[0])
		}
	}
}
