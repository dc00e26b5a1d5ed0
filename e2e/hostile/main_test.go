package hostile

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"sync"
	"testing"
)

// gatewayBin is the gateway binary TestMain builds.
var gatewayBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sluice-hostile-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	gatewayBin = filepath.Join(dir, "gateway")
	build := exec.Command("go", "build", "-o", gatewayBin, "../../cmd/gateway")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "hostile: building the gateway:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	tally.print()
	os.RemoveAll(dir)
	os.Exit(code)
}

// tally counts the cases run and failed, per server and family, for the
// summary lines TestMain prints.
var tally = &counts{m: map[string]map[string]*count{}}

type count struct{ run, failed int }

type counts struct {
	mu     sync.Mutex
	m      map[string]map[string]*count // server → family → count
	failed map[string][]string          // server → names of failed cases
}

func (c *counts) add(server, family, name string, failed bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fam := c.m[server]
	if fam == nil {
		fam = map[string]*count{}
		c.m[server] = fam
	}
	n := fam[family]
	if n == nil {
		n = &count{}
		fam[family] = n
	}
	n.run++
	if failed {
		n.failed++
		if c.failed == nil {
			c.failed = map[string][]string{}
		}
		c.failed[server] = append(c.failed[server], family+"/"+name)
	}
}

func (c *counts) print() {
	c.mu.Lock()
	defer c.mu.Unlock()
	servers := make([]string, 0, len(c.m))
	for s := range c.m {
		servers = append(servers, s)
	}
	sort.Strings(servers)
	for _, s := range servers {
		var run, failed int
		families := make([]string, 0, len(c.m[s]))
		for f, n := range c.m[s] {
			run += n.run
			failed += n.failed
			families = append(families, f)
		}
		sort.Strings(families)
		line := fmt.Sprintf("hostile suite, server %s: %d cases run, %d passed, %d failed (", s, run, run-failed, failed)
		for i, f := range families {
			if i > 0 {
				line += ", "
			}
			n := c.m[s][f]
			line += fmt.Sprintf("%s %d/%d", f, n.run-n.failed, n.run)
		}
		fmt.Println(line + ")")
		failedNames := c.failed[s]
		sort.Strings(failedNames)
		for _, name := range failedNames {
			fmt.Printf("  failed on %s: %s\n", s, name)
		}
	}
}
