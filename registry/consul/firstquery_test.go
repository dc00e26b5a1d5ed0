package consul

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"
)

// hungHealth is an agent that takes a query and never answers, as a hung
// one, or one behind a network that drops its packets, does.
type hungHealth struct{ Health }

func (hungHealth) Service(_, _ string, _ bool, q *api.QueryOptions) ([]*api.ServiceEntry, *api.QueryMeta, error) {
	<-q.Context().Done()
	return nil, nil, q.Context().Err()
}

// TestAFirstQueryIsBoundedByItsOwnTimeout: the first query of a service
// (index zero), which Consul answers without blocking, fails after
// FirstQueryTimeout when the agent does not answer, where it waited the
// blocking queries' bound (1 min 14 s by default): a service added while
// the agent hung had every request to it wait that long for its nodes.
func TestAFirstQueryIsBoundedByItsOwnTimeout(t *testing.T) {
	r := NewFrom(hungHealth{}, newFakeConsul())
	r.first = 20 * time.Millisecond
	done := make(chan error, 1)
	go func() {
		_, err := r.Watch(context.Background(), "svc", 0)
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Watch from index 0 = %v, want a deadline error", err)
		}
	case <-time.After(time.Minute): // a hang guard
		t.Fatal("the first query of a hung agent did not end")
	}
}

// askedHealth records the wait time and the deadline of the query it is
// asked, and answers as an agent that never does: when the query is given
// up.
type askedHealth struct {
	Health
	wait     chan time.Duration
	deadline chan time.Duration // from the call
}

func (h askedHealth) Service(_, _ string, _ bool, q *api.QueryOptions) ([]*api.ServiceEntry, *api.QueryMeta, error) {
	d, _ := q.Context().Deadline()
	h.wait <- q.WaitTime
	h.deadline <- time.Until(d)
	return nil, nil, context.DeadlineExceeded
}

// TestABlockingQueryIsGivenUpWithinAMinuteAndAQuarter: by default a
// blocking query asks Consul to wait a minute, and is given up 1 min 14 s
// after it is sent (the wait, Consul's jitter of up to a 16th of it, and
// 10 s), so that an agent that holds the queries and never answers shows
// as a failing watch that soon; with Consul's own default of 5 minutes it
// went unseen for 5 min 29 s.
func TestABlockingQueryIsGivenUpWithinAMinuteAndAQuarter(t *testing.T) {
	h := askedHealth{wait: make(chan time.Duration, 1), deadline: make(chan time.Duration, 1)}
	r := NewFrom(h, newFakeConsul())
	if _, err := r.Watch(context.Background(), "web", 7); err == nil {
		t.Fatal("a query the agent never answered succeeded")
	}
	if w := <-h.wait; w != time.Minute {
		t.Errorf("the query asks Consul to wait %v, want 1m", w)
	}
	if d := <-h.deadline; d > 74*time.Second || d < 73*time.Second {
		t.Errorf("the query is given up %v after it is sent, want 1m13.75s", d)
	}
}
