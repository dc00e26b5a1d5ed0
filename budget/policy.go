package budget

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Policy is a route's budget policy at the edge, where budgets are originated.
// The zero value is not valid; fill Timeout at least and call Validate.
type Policy struct {
	// Timeout is the budget a request gets when it asks for none.
	Timeout time.Duration
	// Max is the most a client may ask for. Zero means Timeout.
	Max time.Duration
	// Min is the least budget worth starting: a request that asks for less,
	// or that has less left when its work would start, is refused with 504 and
	// does no work. Zero means one millisecond.
	Min time.Duration
	// AllowRaise lets clients that are not trusted ask for more than Timeout,
	// up to Max. Trusted clients may always do so.
	AllowRaise bool
}

// Validate reports a policy whose bounds contradict each other.
func (p Policy) Validate() error {
	p = p.withDefaults()
	switch {
	case p.Timeout <= 0:
		return errors.New("timeout must be positive")
	case p.Min < 0:
		return errors.New("min must not be negative")
	case p.Max < p.Timeout:
		return fmt.Errorf("max (%v) must be at least timeout (%v)", p.Max, p.Timeout)
	case p.Min > p.Timeout:
		return fmt.Errorf("min (%v) must not exceed timeout (%v)", p.Min, p.Timeout)
	}
	return nil
}

func (p Policy) withDefaults() Policy {
	if p.Max == 0 {
		p.Max = p.Timeout
	}
	if p.Min == 0 {
		p.Min = time.Millisecond
	}
	return p
}

// Grant returns the budget for a request that asked for asked. An ask above
// the ceiling is clamped down to it: the ceiling is Max for trusted clients and
// for routes that AllowRaise, Timeout otherwise. An ask below Min (zero
// included) is refused with ErrBelowMinimum.
func (p Policy) Grant(asked time.Duration, trusted bool) (time.Duration, error) {
	p = p.withDefaults()
	ceiling := p.Timeout
	if trusted || p.AllowRaise {
		ceiling = p.Max
	}
	if asked < p.Min {
		return 0, ErrBelowMinimum
	}
	return min(asked, ceiling), nil
}

// Originate returns the budget of a request with headers h: Timeout when the
// client asked for nothing, else Grant of what it asked. A malformed budget
// field is returned as a parse error (the edge answers 400); an ask below Min
// as ErrBelowMinimum (the edge answers 504).
func (p Policy) Originate(h http.Header, trusted bool) (time.Duration, error) {
	grant, _, err := p.OriginateHop(h, trusted)
	return grant, err
}

// OriginateHop is Originate that also returns the hop the request's
// Sluice-Budget names (0 when it names none): the edge's own place in the
// chain, which it continues, so that a request that comes back to it
// through its own nodes counts its passes. A hop of MaxChain or more is
// refused with ErrLoop (the edge answers 508).
func (p Policy) OriginateHop(h http.Header, trusted bool) (time.Duration, int, error) {
	asked, hop, ok, err := requested(h)
	if err != nil {
		return 0, 0, err
	}
	if hop >= MaxChain {
		return 0, hop, ErrLoop
	}
	if !ok {
		return p.Timeout, hop, nil
	}
	grant, err := p.Grant(asked, trusted)
	return grant, hop, err
}

// MinOrDefault returns Min, or its default when zero.
func (p Policy) MinOrDefault() time.Duration { return p.withDefaults().Min }

// Requested reads the budget a client asks for from a request's headers: the
// ms member of Sluice-Budget, or grpc-timeout, the smaller when both are
// present. ok is false when the client asked for nothing. A malformed field is
// an error (the edge answers 400); the other members from a client are
// ignored here (OriginateHop reads its hop).
func Requested(h http.Header) (d time.Duration, ok bool, err error) {
	d, _, ok, err = requested(h)
	return d, ok, err
}

// requested is Requested, with the hop of the Sluice-Budget field.
func requested(h http.Header) (d time.Duration, hop int, ok bool, err error) {
	// Indexed by the canonical names: h.Values would check each name for
	// its canonical form on every request.
	if v := h[HeaderName]; len(v) > 0 {
		bh, err := ParseFields(v)
		if err != nil {
			return 0, 0, false, err
		}
		d, hop, ok = bh.Remaining, bh.Hop, true
	}
	if v := h[GRPCHeaderName]; len(v) > 0 {
		if len(v) > 1 {
			return 0, 0, false, ErrGRPCSyntax
		}
		g, err := ParseGRPCTimeout(v[0])
		if err != nil {
			return 0, 0, false, err
		}
		if !ok || g < d {
			d = g
		}
		ok = true
	}
	return d, hop, ok, nil
}
