package consul

import (
	"context"
	"net/http"
	"sort"
	"sync"

	"github.com/hashicorp/consul/api"
)

// fakeConsul is an in-memory agent and catalog that satisfies Health and Agent:
// registered services are visible to passing-only queries while their check
// passes, and blocking queries wait on its index.
type fakeConsul struct {
	mu       sync.Mutex
	index    uint64
	changed  chan struct{}
	services map[string]*api.AgentServiceRegistration
	status   map[string]string // check ID → status
	queries  []api.QueryOptions
	calls    []string
	regErr   error
}

func newFakeConsul() *fakeConsul {
	return &fakeConsul{
		index:    1,
		changed:  make(chan struct{}),
		services: make(map[string]*api.AgentServiceRegistration),
		status:   make(map[string]string),
	}
}

var (
	_ Health = (*fakeConsul)(nil)
	_ Agent  = (*fakeConsul)(nil)
)

func (f *fakeConsul) bumpLocked() {
	f.index++
	close(f.changed)
	f.changed = make(chan struct{})
}

// forget drops every registration, as a restarted dev agent does.
func (f *fakeConsul) forget() {
	f.mu.Lock()
	defer f.mu.Unlock()
	clear(f.services)
	clear(f.status)
	f.bumpLocked()
}

func (f *fakeConsul) callLog() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func (f *fakeConsul) registration(id string) (*api.AgentServiceRegistration, string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.services[id], f.status[CheckID(id)]
}

func (f *fakeConsul) Service(service, _ string, passingOnly bool, q *api.QueryOptions) ([]*api.ServiceEntry, *api.QueryMeta, error) {
	ctx := q.Context()
	for {
		f.mu.Lock()
		f.queries = append(f.queries, *q)
		idx, changed := f.index, f.changed
		if q.WaitIndex == 0 || q.WaitIndex != idx {
			out := f.entriesLocked(service, passingOnly)
			f.mu.Unlock()
			return out, &api.QueryMeta{LastIndex: idx}, nil
		}
		f.mu.Unlock()
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
	}
}

func (f *fakeConsul) entriesLocked(service string, passingOnly bool) []*api.ServiceEntry {
	var out []*api.ServiceEntry
	for id, s := range f.services {
		if s.Name != service || (passingOnly && f.status[CheckID(id)] != api.HealthPassing) {
			continue
		}
		out = append(out, &api.ServiceEntry{
			Node:    &api.Node{Node: "n1", Address: "10.0.0.1", Datacenter: "dc1"},
			Service: &api.AgentService{ID: s.ID, Service: s.Name, Address: s.Address, Port: s.Port, Meta: s.Meta, Tags: s.Tags},
			Checks:  api.HealthChecks{{Node: "n1", CheckID: CheckID(id), ServiceID: s.ID, ServiceName: s.Name, Status: f.status[CheckID(id)]}},
		})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Service.ID < out[j].Service.ID })
	return out
}

func (f *fakeConsul) ServiceRegisterOpts(s *api.AgentServiceRegistration, _ api.ServiceRegisterOpts) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "register "+s.ID)
	if f.regErr != nil {
		return f.regErr
	}
	f.services[s.ID] = s
	f.status[s.Check.CheckID] = s.Check.Status
	f.bumpLocked()
	return nil
}

func (f *fakeConsul) ServiceDeregisterOpts(id string, _ *api.QueryOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "deregister "+id)
	if _, ok := f.services[id]; !ok {
		return api.StatusError{Code: http.StatusNotFound, Body: "Unknown service ID"}
	}
	delete(f.services, id)
	delete(f.status, CheckID(id))
	f.bumpLocked()
	return nil
}

func (f *fakeConsul) UpdateTTLOpts(checkID, _, status string, _ *api.QueryOptions) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, "ttl "+checkID)
	if _, ok := f.status[checkID]; !ok {
		return api.StatusError{Code: http.StatusNotFound, Body: "Unknown check ID"}
	}
	if f.status[checkID] != status {
		f.status[checkID] = status
		f.bumpLocked()
	}
	return nil
}

// serverFunc adapts a function to Shutdowner.
type serverFunc func(context.Context) error

func (f serverFunc) Shutdown(ctx context.Context) error { return f(ctx) }
