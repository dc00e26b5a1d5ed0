package chaos

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	eload "github.com/sluicehq/sluice/e2e/internal/load"
)

// tally counts the hits of one method: successes by node and failures by
// kind.
type tally struct {
	sent, ok int
	failed   []hit
	kinds    map[string]int // failures by kind, as kindOf names them
	byNode   map[string]int // successes by node
}

// tallyOf counts the hits whose method is method; "" counts every hit.
func tallyOf(hs []hit, method string) tally {
	s := tally{kinds: map[string]int{}, byNode: map[string]int{}}
	for _, h := range hs {
		if method != "" && h.Method != method {
			continue
		}
		s.sent++
		if h.OK() {
			s.ok++
			s.byNode[h.Node]++
			continue
		}
		s.failed = append(s.failed, h)
		s.kinds[kindOf(h)]++
	}
	return s
}

// kindOf names a failure: the status and the problem type's last part, or
// "transport" for a request that got no answer.
func kindOf(h hit) string {
	if h.Err != nil && h.Status == 0 {
		return "transport"
	}
	return fmt.Sprintf("%d %s", h.Status, strings.TrimPrefix(h.Type, "urn:sluice:problem:"))
}

// failures returns the count of failed hits.
func (s tally) failures() int { return len(s.failed) }

// kindList lists the failures' kinds, most frequent first: "{503
// circuit-open: 7, 502 not-processed: 2}".
func (s tally) kindList() string {
	keys := make([]string, 0, len(s.kinds))
	for k := range s.kinds {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int {
		if s.kinds[a] != s.kinds[b] {
			return s.kinds[b] - s.kinds[a]
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %d", k, s.kinds[k])
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// share returns the part of the successes that node answered.
func (s tally) share(node string) float64 {
	if s.ok == 0 {
		return 0
	}
	return float64(s.byNode[node]) / float64(s.ok)
}

// showFailures logs up to ten of the failed hits, for a failing goal.
func (s tally) showFailures(t *testing.T) {
	t.Helper()
	eload.LogFailures(t, s.failed)
}

// figures prints a scenario's figures as one table row, so that the rows of
// a run line up: go test -v ./e2e/chaos/ | grep '| '.
func figures(t *testing.T, scenario, format string, args ...any) {
	t.Helper()
	t.Logf("| %-24s | %s |", scenario, fmt.Sprintf(format, args...))
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }
