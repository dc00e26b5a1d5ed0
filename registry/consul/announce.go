package consul

import (
	"context"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/sluicehq/sluice/registry"
)

// Announcement keeps one registered node alive with heartbeats. It is made by
// Announce and ends with Stop or Shutdown; its methods are safe for concurrent
// use.
type Announcement struct {
	r        *Registry
	reg      registry.Registration
	id       string
	interval time.Duration
	delay    time.Duration // see WithPropagationDelay
	onError  func(error)
	after    func(time.Duration) <-chan time.Time
	jitter   func(n int64) int64 // uniform in [0, n)

	cancel   context.CancelFunc
	done     chan struct{}
	stopOnce sync.Once
	stopErr  error
}

// AnnounceOption configures an Announcement.
type AnnounceOption func(*Announcement)

// WithHeartbeatInterval sets the mean time between heartbeats. Zero or less
// means a third of the TTL, so two heartbeats may be lost before the check
// turns critical.
func WithHeartbeatInterval(d time.Duration) AnnounceOption {
	return func(a *Announcement) {
		if d > 0 {
			a.interval = d
		}
	}
}

// WithErrorHandler sets a function called, from the heartbeat goroutine, with
// each heartbeat that failed even after re-registering. It must not block. By
// default errors are dropped; the loop keeps trying at every interval.
func WithErrorHandler(f func(error)) AnnounceOption {
	return func(a *Announcement) { a.onError = f }
}

// Announce registers the node of reg (see Register), so that it is passing at
// once, and starts a goroutine that heartbeats its TTL check about every third of
// the TTL, with jitter. When a heartbeat fails (the agent restarted and forgot
// the service, or was unreachable) the goroutine registers the node again.
//
// ctx bounds only the first registration; the heartbeats run until Stop or
// Shutdown. Announce returns the registration error, with no goroutine left
// behind, when the first registration fails; when the first heartbeat fails
// after it, it withdraws the registration before returning the error.
func (r *Registry) Announce(ctx context.Context, reg registry.Registration, opts ...AnnounceOption) (*Announcement, error) {
	reg = reg.WithDefaults()
	reg.Node.Metadata = markStart(reg.Node.Metadata)
	a := &Announcement{
		r:        r,
		reg:      reg,
		id:       serviceID(&reg.Node),
		interval: reg.TTL / 3,
		delay:    DefaultPropagationDelay,
		onError:  func(error) {},
		after:    time.After,
		jitter:   rand.Int64N,
		done:     make(chan struct{}),
	}
	for _, o := range opts {
		o(a)
	}
	if err := r.Register(ctx, reg); err != nil {
		return nil, err
	}
	if err := r.Heartbeat(ctx, a.id); err != nil {
		a.withdraw(ctx)
		return nil, err
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	a.cancel = cancel
	go a.loop(loopCtx)
	return a, nil
}

// withdraw deregisters the node of an Announce that fails after its
// registration: the agent holds it passing for a TTL, and the catalog for
// DeregisterCriticalAfter, while a caller told it is not announced most
// often gives up, and gateways would route to it meanwhile. It is a best
// effort, within an interval even when ctx has ended (the heartbeat may
// have failed for that): an agent that cannot be reached leaves the TTL
// to withdraw the node.
func (a *Announcement) withdraw(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.interval)
	defer cancel()
	_ = a.r.Deregister(ctx, a.reg.Service, a.id)
}

// markStart returns a copy of md with a registry.MetaInstance mark of its
// own, unless md has one: every Announce is a start of the node, told apart
// from the last one although the service ID stays.
func markStart(md map[string]string) map[string]string {
	if _, ok := md[registry.MetaInstance]; ok {
		return md
	}
	out := make(map[string]string, len(md)+1)
	for k, v := range md {
		out[k] = v
	}
	out[registry.MetaInstance] = strconv.FormatUint(rand.Uint64(), 36)
	return out
}

// ID returns the Consul service ID of the announced node.
func (a *Announcement) ID() string { return a.id }

// Stop ends the heartbeats and then deregisters the node, so that no late
// heartbeat can register it again. It returns the deregistration error; calls
// after the first return the same result. Stop does not wait for gateways to
// notice; Shutdown does.
func (a *Announcement) Stop(ctx context.Context) error {
	a.stopOnce.Do(func() {
		a.cancel()
		<-a.done
		a.stopErr = a.r.Deregister(ctx, a.reg.Service, a.id)
	})
	return a.stopErr
}

// loop heartbeats until ctx ends.
func (a *Announcement) loop(ctx context.Context) {
	defer close(a.done)
	for {
		select {
		case <-ctx.Done():
			return
		case <-a.after(a.next()):
		}
		if err := a.beat(ctx); err != nil && ctx.Err() == nil {
			a.onError(err)
		}
	}
}

// beat sends one heartbeat, re-registering when it fails. Each request may take
// at most one interval, so a hung connection does not outlive the TTL.
func (a *Announcement) beat(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, a.interval)
	defer cancel()
	if a.r.Heartbeat(ctx, a.id) == nil {
		return nil
	}
	// Registration starts the check passing, so it doubles as the heartbeat.
	return a.r.Register(ctx, a.reg)
}

// next returns the wait before the next heartbeat: uniform in
// (3/4·interval, interval], never later than the interval.
func (a *Announcement) next() time.Duration {
	q := int64(a.interval / 4)
	if q <= 0 {
		return a.interval
	}
	return a.interval - time.Duration(a.jitter(q))
}
