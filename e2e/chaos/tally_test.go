package chaos

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
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
		if method != "" && h.method != method {
			continue
		}
		s.sent++
		if h.ok() {
			s.ok++
			s.byNode[h.node]++
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
	if h.err != nil && h.status == 0 {
		return "transport"
	}
	return fmt.Sprintf("%d %s", h.status, strings.TrimPrefix(h.typ, "urn:sluice:problem:"))
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
	for i, h := range s.failed {
		if i == 10 {
			t.Logf("... and %d more", len(s.failed)-i)
			return
		}
		t.Logf("failed: %s", h)
	}
}

// startedBetween returns the hits that started in [from, to).
func startedBetween(hs []hit, from, to time.Time) []hit {
	var out []hit
	for _, h := range hs {
		if !h.start.Before(from) && h.start.Before(to) {
			out = append(out, h)
		}
	}
	return out
}

// startedSince returns the hits that started at or after from.
func startedSince(hs []hit, from time.Time) []hit {
	return startedBetween(hs, from, time.Now().Add(time.Hour))
}

// figures prints a scenario's figures as one table row, so that the rows of
// a run line up: go test -v ./e2e/chaos/ | grep '| '.
func figures(t *testing.T, scenario, format string, args ...any) {
	t.Helper()
	t.Logf("| %-24s | %s |", scenario, fmt.Sprintf(format, args...))
}

// ms formats a duration in milliseconds.
func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }
