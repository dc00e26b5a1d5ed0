package consul

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

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
// A registration that would not work end to end is refused, without a
// request (see checkRegistration): a service name Lookup refuses
// (ErrServiceName), a host no gateway would dial, or an ID that Heartbeat
// and Deregister could not name (errors wrapping registry.ErrInvalidNode).
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
	if err := checkServiceID(id); err != nil {
		return err
	}
	q := (&api.QueryOptions{}).WithContext(ctx)
	if err := r.agent.UpdateTTLOpts(CheckID(id), "", api.HealthPassing, q); err != nil {
		return fmt.Errorf("consul: heartbeat %s: %w", id, ctxErr(ctx, err))
	}
	return nil
}

// Deregister implements registry.Registry by removing the service instance and
// its check from the local agent. An instance the agent does not know is not an
// error. The service argument is unused: Consul keys instances by ID alone.
// An ID that Register would refuse is refused here too, without a request:
// the agent's path could not name it (see checkServiceID).
func (r *Registry) Deregister(ctx context.Context, _ string, id string) error {
	if err := checkServiceID(id); err != nil {
		return err
	}
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
	if err := checkRegistration(n.Service, host, id); err != nil {
		return nil, err
	}
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

// checkRegistration refuses what Consul's agent would register and nothing
// could use: a service name that Lookup and Watch refuse to ask about
// (checkService), so no gateway would ever see the node; a host that
// gateways skip (validHost: "a b", "a/b", a newline), so the node would
// be registered, passing and never called, which no error would tell; and
// an ID that the agent's paths cannot name (checkServiceID).
func checkRegistration(service, host, id string) error {
	if err := checkService(service); err != nil {
		return err
	}
	if !validHost(host) {
		return fmt.Errorf("%w: host %q is no plain name or IP address of one host, which gateways would skip",
			registry.ErrInvalidNode, host)
	}
	return checkServiceID(id)
}

// checkServiceID returns an error wrapping registry.ErrInvalidNode when id
// cannot be named in the agent's paths, where Heartbeat and Deregister put
// it (/v1/agent/check/update/service:ID, /v1/agent/service/deregister/ID).
//
// The consul/api client puts it there as it is, '/' included, as for
// service names (see checkService): Consul's HTTP server redirects a path
// with an empty, "." or ".." segment to the cleaned one, which the client
// follows as a GET. The heartbeat of "x/../../../../status/leader" and
// the deregistration of ".." were thus answered 200 by another endpoint,
// and returned nil while the agent kept the service: a backend that shut
// down stayed in discovery until its TTL ran out. Control bytes make the
// agent refuse the path (400), and bytes that are not UTF-8 reach it as
// U+FFFD, another ID.
func checkServiceID(id string) error {
	why := ""
	switch {
	case !utf8.ValidString(id):
		why = "is not UTF-8"
	case strings.ContainsFunc(id, func(c rune) bool { return c < 0x20 || c == 0x7f }):
		why = "holds a control character"
	case hasDotSegment(id):
		why = "has an empty, \".\" or \"..\" path segment, which Consul's HTTP server would redirect away from"
	default:
		return nil
	}
	return fmt.Errorf("%w: service ID %q %s", registry.ErrInvalidNode, id, why)
}

// hasDotSegment reports whether s, split at '/', has an empty, "." or
// ".." segment, a single trailing slash aside (Consul keeps it as it is).
func hasDotSegment(s string) bool {
	for seg := range strings.SplitSeq(strings.TrimSuffix(s, "/"), "/") {
		if seg == "" || seg == "." || seg == ".." {
			return true
		}
	}
	return false
}
