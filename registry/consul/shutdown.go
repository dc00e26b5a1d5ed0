package consul

import (
	"context"
	"errors"
	"time"
)

// DefaultPropagationDelay is how long Shutdown waits between deregistering and
// stopping the server: a gateway's blocking query returns within one round trip
// of the change (its shared watch, past MaxBlockingQueries services, within
// a round: under a second measured with 1,000 services), and a gateway recovering from a Consul error re-syncs within
// its back-off cap (two seconds for registry.Cache by default).
const DefaultPropagationDelay = 3 * time.Second

// WithPropagationDelay sets how long Shutdown waits after deregistering before
// it stops the server. Zero means no wait; less than zero means
// DefaultPropagationDelay.
func WithPropagationDelay(d time.Duration) AnnounceOption {
	return func(a *Announcement) {
		if d < 0 {
			d = DefaultPropagationDelay
		}
		a.delay = d
	}
}

// Shutdowner stops accepting new requests and drains those in flight;
// *http.Server satisfies it.
type Shutdowner interface {
	Shutdown(ctx context.Context) error
}

// Shutdown withdraws the node in the order that loses no request:
//
//  1. Stop: end heartbeats and deregister, so gateways stop sending new work;
//  2. wait the propagation delay, while the server still accepts the requests
//     that gateways routed before they noticed;
//  3. srv.Shutdown: stop accepting and drain what is in flight.
//
// ctx bounds the whole sequence: the wait is cut short when ctx ends, and srv
// gets what is left of it. srv may be nil when the caller drains by itself.
// The errors of steps 1 and 3 are joined.
func (a *Announcement) Shutdown(ctx context.Context, srv Shutdowner) error {
	stopErr := a.Stop(ctx)
	if a.delay > 0 {
		select {
		case <-a.after(a.delay):
		case <-ctx.Done():
		}
	}
	var srvErr error
	if srv != nil {
		srvErr = srv.Shutdown(ctx)
	}
	return errors.Join(stopErr, srvErr)
}
