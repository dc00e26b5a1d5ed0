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
// blocking queries' bound (5 min 29 s by default): a service added while
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
