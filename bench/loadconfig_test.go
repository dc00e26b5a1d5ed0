// Package bench holds the load test's scripts and programs; this test keeps
// the gateway configurations bench/load.sh and bench/instr.sh write
// loadable, so that a change of the configuration's fields cannot break them
// unseen (it did once: a breaker field renamed, found only when the script
// ran).
package bench

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/config"
)

func TestLoadScriptConfigsParse(t *testing.T) {
	t.Setenv("SLUICE_BENCH_SECRET", "sluice-bench-secret-0123456789abcdef")
	// The scripts' variables, as they set them.
	vars := strings.NewReplacer("${canary:-}", "127.0.0.1:9102", "$backend", "127.0.0.1:9101",
		"$addr", "127.0.0.1:9103", "$(free_port)", "9104")
	// A heredoc written with >> adds to the configuration before it (a
	// target's own fields after the common ones).
	heredoc := regexp.MustCompile(`(?s)cat (>>?)"\$work/conf/([$a-z-]+)\.yaml" <<YAML\n(.*?)\nYAML\n`)
	for _, script := range []struct {
		name string
		min  int // the configurations it writes
	}{{"load.sh", 2}, {"instr.sh", 1}} {
		b, err := os.ReadFile(script.name)
		if err != nil {
			t.Fatal(err)
		}
		docs := heredoc.FindAllStringSubmatch(string(b), -1)
		if len(docs) < script.min {
			t.Fatalf("found %d configurations in %s, want %d", len(docs), script.name, script.min)
		}
		prev := ""
		for _, d := range docs {
			name, text := d[2], vars.Replace(d[3])
			if d[1] == ">>" {
				text = prev + "\n" + text
			}
			prev = text
			if strings.Contains(text, "$") {
				t.Errorf("%s: %s.yaml: a shell expansion this test does not know: %q", script.name, name, text)
				continue
			}
			if _, err := config.Parse(name+".yaml", []byte(text)); err != nil {
				t.Errorf("%s writes a configuration the gateway refuses: %v", script.name, err)
			}
		}
	}
}
