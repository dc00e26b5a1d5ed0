package consul

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"

	"github.com/hashicorp/consul/api"

	"github.com/sluicehq/sluice/registry"
)

// CheckID returns the ID of the TTL check that Register attaches to the service
// instance serviceID; heartbeats update this check.
func CheckID(serviceID string) string { return "service:" + serviceID }

// Register implements registry.Registry: it records the node with the local
// agent together with a TTL check that starts passing, so the node is visible
// at once and turns critical unless Heartbeat is called within the TTL. After
// DeregisterCriticalAfter in the critical state Consul removes it. Zero
// durations take the registry defaults. Registering again replaces the earlier
// registration and its check.
//
// The node's Version goes to Meta["version"] and its Metadata to Meta, so keys
// must follow Consul's Meta rules (letters, digits, '-' and '_'). Datacenter is
// ignored: the agent registers into its own.
func (r *Registry) Register(ctx context.Context, reg registry.Registration) error {
	asr, err := agentRegistration(reg)
	if err != nil {
		return err
	}
	opts := api.ServiceRegisterOpts{ReplaceExistingChecks: true}.WithContext(ctx)
	if err := r.agent.ServiceRegisterOpts(asr, opts); err != nil {
		return fmt.Errorf("consul: register %s: %w", asr.ID, ctxErr(ctx, err))
	}
	return nil
}

// Heartbeat marks the TTL check of the service instance id passing and restarts
// its timer. It fails when the agent does not know the check, for example after
// an agent restart; register again then.
func (r *Registry) Heartbeat(ctx context.Context, id string) error {
	q := (&api.QueryOptions{}).WithContext(ctx)
	if err := r.agent.UpdateTTLOpts(CheckID(id), "", api.HealthPassing, q); err != nil {
		return fmt.Errorf("consul: heartbeat %s: %w", id, ctxErr(ctx, err))
	}
	return nil
}

// Deregister implements registry.Registry by removing the service instance and
// its check from the local agent. An instance the agent does not know is not an
// error. The service argument is unused: Consul keys instances by ID alone.
func (r *Registry) Deregister(ctx context.Context, _ string, id string) error {
	q := (&api.QueryOptions{}).WithContext(ctx)
	err := r.agent.ServiceDeregisterOpts(id, q)
	var se api.StatusError
	if errors.As(err, &se) && se.Code == http.StatusNotFound {
		return nil
	}
	if err != nil {
		return fmt.Errorf("consul: deregister %s: %w", id, ctxErr(ctx, err))
	}
	return nil
}

// agentRegistration builds the agent's registration for reg, with defaults.
func agentRegistration(reg registry.Registration) (*api.AgentServiceRegistration, error) {
	reg = reg.WithDefaults()
	n := reg.Node
	if err := n.Validate(); err != nil {
		return nil, err
	}
	host, portStr, err := net.SplitHostPort(n.Address)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", registry.ErrInvalidNode, err)
	}
	port, _ := strconv.Atoi(portStr) // Validate checked it
	id := serviceID(&n)
	var meta map[string]string
	if len(n.Metadata) > 0 || n.Version != "" {
		meta = make(map[string]string, len(n.Metadata)+1)
		for k, v := range n.Metadata {
			meta[k] = v
		}
		if n.Version != "" {
			meta[MetaVersion] = n.Version
		}
	}
	return &api.AgentServiceRegistration{
		ID:      id,
		Name:    n.Service,
		Address: host,
		Port:    port,
		Meta:    meta,
		Check: &api.AgentServiceCheck{
			CheckID:                        CheckID(id),
			Name:                           "sluice heartbeat",
			TTL:                            reg.TTL.String(),
			DeregisterCriticalServiceAfter: reg.DeregisterCriticalAfter.String(),
			Status:                         api.HealthPassing,
		},
	}, nil
}

// serviceID is the node's ID, or its address when the ID is empty, as the
// registry package defines node identity.
func serviceID(n *registry.Node) string {
	if n.ID != "" {
		return n.ID
	}
	return n.Address
}
