package config_test

import (
	"errors"
	"runtime"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/config"
)

// TestAliasesOfLongValuesAreBounded: an alias costs nothing to decode when
// the value it names is kept as written, but a value with an environment
// reference or a $$ is expanded anew at each alias. A file of 260 kB, a
// 100 kB value of $$ and 2,000 aliases of it, made the decoder build
// 2,000 strings of 50 kB (100 MB) before validation refused the first;
// 100,000 aliases in a file under MaxFileBytes made 10 GB, held at once
// until the decoder was done: a reload that killed the gateway. Every
// value the file expands to counts against a bound of bytes, as every
// node counts against maxNodes.
func TestAliasesOfLongValuesAreBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString("trusted_proxies:\n  - &s \"" + strings.Repeat("$$", 50_000) + "\"\n")
	for range 2000 {
		b.WriteString("  - *s\n")
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := config.Parse("laughs.yaml", []byte(b.String()))
	runtime.ReadMemStats(&after)
	var ce *config.Error
	if !errors.As(err, &ce) || !strings.Contains(ce.Msg, "expands to more than") || ce.Line < 3 || ce.Column == 0 {
		t.Errorf("Parse = %.200v, want an expansion error at an alias's line and column", err)
	}
	// Allocation counts every goroutine's, the test's own among them: the
	// bound is far above what the refused file needs (a few MB) and far
	// below what expanding every alias took.
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 60<<20 {
		t.Errorf("parsing the file allocated %d MB", alloc>>20)
	}
}
