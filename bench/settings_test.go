package bench

import (
	"os"
	"regexp"
	"testing"
)

// TestLoadSettingsMatchReadme holds bench/README.md's table of load.sh's
// settings to the defaults the script sets: a default is stated in the
// script, and the table, which a reader goes by, must agree with it.
func TestLoadSettingsMatchReadme(t *testing.T) {
	script, err := os.ReadFile("load.sh")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	// NAME=${NAME:-DEFAULT} or NAME=${NAME-DEFAULT}, at the start of a line.
	set := regexp.MustCompile("(?m)^([A-Z_]+)=\\$\\{([A-Z_]+):?-([^}]*)\\}$")
	// | `NAME` | DEFAULT | meaning |
	row := regexp.MustCompile("(?m)^\\| `([A-Z_]+)` \\| ([^|]*?) \\|")
	table := map[string]string{}
	for _, m := range row.FindAllStringSubmatch(string(readme), -1) {
		table[m[1]] = m[2]
	}
	n := 0
	for _, m := range set.FindAllStringSubmatch(string(script), -1) {
		name, def := m[1], m[3]
		if m[2] != name || def == "" { // BASE: no default to state
			continue
		}
		n++
		got, ok := table[name]
		switch {
		case !ok:
			t.Errorf("load.sh sets %s (default %s); bench/README.md's table of settings has no row for it", name, def)
		case got != def && got != "`"+def+"`":
			t.Errorf("bench/README.md gives %s's default as %s; load.sh sets %s", name, got, def)
		}
	}
	if n < 10 {
		t.Fatalf("found %d defaults in load.sh: the pattern no longer matches how it sets them", n)
	}
}
