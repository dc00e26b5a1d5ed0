package upstream

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/sluicehq/sluice/upstream/h1"
)

// A body's read cut because the node sent nothing for the idle bound of a
// lifted per-try timeout is the node's failure; one cut by a deadline
// otherwise is its reader's pace, nobody's.
func TestClassifyBodyBlamesAStallOnTheNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	now := time.Now()
	stalled := fmt.Errorf("h1: read body: %w for 250ms (%w)", h1.ErrBodyStalled, os.ErrDeadlineExceeded)
	if o := classifyBody(ctx, now, stalled, time.Minute, time.Millisecond); o != Failed {
		t.Errorf("a stalled body: %v, want failed", o)
	}
	if o := classifyBody(ctx, now, fmt.Errorf("h1: read body: %w", os.ErrDeadlineExceeded), time.Minute, time.Millisecond); o != Abandoned {
		t.Errorf("a body past a deadline: %v, want abandoned", o)
	}
}
