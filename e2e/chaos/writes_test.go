package chaos

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeLog is what every chaosnode of a cluster logged of its writes: the
// nodes that received each id, and how many times each was written.
type writeLog struct {
	recvBy  map[string][]string // id → addresses of the nodes that received it
	written map[string]int      // id → "done" lines
}

// readWrites reads every write log of the cluster. A node's lines are in its
// file once written, even if it was SIGKILLed since.
func (c *cluster) readWrites() writeLog {
	c.t.Helper()
	w := writeLog{recvBy: map[string][]string{}, written: map[string]int{}}
	files, err := filepath.Glob(filepath.Join(c.dir, "writes-*.log"))
	if err != nil {
		c.t.Fatal(err)
	}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			c.t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			what, id, node := splitLine(c.t, sc.Text())
			switch what {
			case "recv":
				w.recvBy[id] = append(w.recvBy[id], node)
			case "done":
				w.written[id]++
			}
		}
		f.Close()
		if err := sc.Err(); err != nil {
			c.t.Fatal(err)
		}
	}
	return w
}

func splitLine(t *testing.T, s string) (what, id, node string) {
	t.Helper()
	f := strings.Fields(s)
	if len(f) != 3 {
		t.Fatalf("write log line %q: want WHAT ID NODE", s)
	}
	return f[0], f[1], f[2]
}

// receivedElsewhere reports whether a node other than node received id.
func (w writeLog) receivedElsewhere(id, node string) bool {
	for _, n := range w.recvBy[id] {
		if n != node {
			return true
		}
	}
	return false
}
