// Package bench holds the load test's script and programs; this test keeps
// the gateway configurations bench/load.sh writes loadable, so that a
// change of the configuration's fields cannot break the load test unseen
// (it did once: a breaker field renamed, found only when the script ran).
package bench

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/config"
)

func TestLoadScriptConfigsParse(t *testing.T) {
	b, err := os.ReadFile("load.sh")
	if err != nil {
		t.Fatal(err)
	}
	heredoc := regexp.MustCompile(`(?s)cat >"\$work/([a-z-]+)\.yaml" <<YAML\n(.*?)\nYAML\n`)
	docs := heredoc.FindAllStringSubmatch(string(b), -1)
	if len(docs) < 2 {
		t.Fatalf("found %d configurations in load.sh, want the gateway's two", len(docs))
	}
	t.Setenv("SLUICE_BENCH_SECRET", "sluice-bench-secret-0123456789abcdef")
	for _, d := range docs {
		name, text := d[1], d[2]
		// The script's variables, as it sets them.
		text = strings.NewReplacer("${canary:-}", "127.0.0.1:9102", "$backend", "127.0.0.1:9101").Replace(text)
		if strings.Contains(text, "$") {
			t.Errorf("%s.yaml: a shell expansion this test does not know: %q", name, text)
			continue
		}
		if _, err := config.Parse(name+".yaml", []byte(text)); err != nil {
			t.Errorf("load.sh writes a configuration the gateway refuses: %v", err)
		}
	}
}
