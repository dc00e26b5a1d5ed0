package config

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/tlscert"
)

// TestDocStatesFileLimits: docs/configuration.md states the bounds on a
// configuration file and on the files it names as the code sets them.
func TestDocStatesFileLimits(t *testing.T) {
	data, err := os.ReadFile("../docs/configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := strings.Join(strings.Fields(string(data)), " ")
	mib := func(n int) string { return fmt.Sprintf("%d MiB", n>>20) }
	for _, s := range []string{
		fmt.Sprintf("a file larger than %s", mib(MaxFileBytes)),
		fmt.Sprintf("expands to more than %s values", grouped(maxNodes)),
		fmt.Sprintf("values expand to more than %s of text", mib(maxValueBytes)),
		fmt.Sprintf("nested more than %s levels deep", grouped(maxDepth)),
		fmt.Sprintf("a mapping of more than %s entries", grouped(maxMappingEntries)),
		fmt.Sprintf("of at most %d KiB for a JWT key and %s for the others", maxKeyFileBytes>>10, mib(tlscert.MaxFileBytes)),
	} {
		if !strings.Contains(doc, s) {
			t.Errorf("docs/configuration.md does not say %q", s)
		}
	}
}

// grouped writes n with its thousands set apart by a space, as the docs do.
func grouped(n int) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + " " + s[i:]
	}
	return s
}
