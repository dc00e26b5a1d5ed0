package consul

import "github.com/hashicorp/consul/api"

// Health is the part of Consul's health API that Registry reads. *api.Health
// satisfies it.
type Health interface {
	// Service returns the entries of service, only those whose checks all pass
	// when passingOnly is true. q carries the blocking-query index, wait time and
	// context.
	Service(service, tag string, passingOnly bool, q *api.QueryOptions) ([]*api.ServiceEntry, *api.QueryMeta, error)
}

// Agent is the part of Consul's agent API that Registry writes through.
// *api.Agent satisfies it.
type Agent interface {
	// ServiceRegisterOpts registers a service, with its checks, on the local agent.
	ServiceRegisterOpts(service *api.AgentServiceRegistration, opts api.ServiceRegisterOpts) error
	// ServiceDeregisterOpts removes a service and its checks from the local agent.
	ServiceDeregisterOpts(serviceID string, q *api.QueryOptions) error
	// UpdateTTLOpts sets the status of a TTL check and restarts its timer.
	UpdateTTLOpts(checkID, output, status string, q *api.QueryOptions) error
}

var (
	_ Health = (*api.Health)(nil)
	_ Agent  = (*api.Agent)(nil)
)
