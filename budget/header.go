package budget

import (
	"errors"
	"net/netip"
	"strconv"
	"time"
)

// HeaderName is the HTTP field that carries a budget between hops.
const HeaderName = "Sluice-Budget"

// Bounds of the wire format. A field longer than MaxHeaderLen, or a value above
// its maximum, is rejected rather than clamped: it is a broken or hostile peer.
const (
	MaxHeaderLen = 256
	MaxMillis    = 999_999_999 // nine digits, about 11.5 days
	MaxHops      = 255
	MaxRetries   = 255
)

// MaxChain is the most hops a request may pass: a hop that receives hop
// MaxChain or more refuses it, 508 loop-detected (the gateway's Originate
// and Inbound return ErrLoop). No chain of services is that deep; a
// request that comes back to a hop it passed is. A gateway whose node is
// the gateway itself sent one request 257 times to itself, every
// connection of the node's pool, until the budget ended (TestAuditSelfLoop
// in e2e/hostile); the gateway now continues a hop count it receives, and
// the loop ends after MaxChain passes.
const MaxChain = 32

// Header is the decoded form of a Sluice-Budget field.
type Header struct {
	// Remaining is the time left to the whole chain, relative to when the field
	// was sent; the wire carries whole milliseconds.
	Remaining time.Duration
	// Hop counts the services the request has passed through before the
	// receiver: 1 at the first backend behind the gateway.
	Hop int
	// Retries counts the retries already spent on the path to the receiver.
	Retries int
	// Caller is who the chain's work is done for: the client the gateway
	// told apart (its address, an IPv6 one as its /64), sent on by every
	// hop, so that each hop's upstream client keeps one caller from taking
	// a service from the others as the gateway's does (upstream.WithCaller).
	// The zero Addr names none.
	Caller netip.Addr
}

// Errors returned by Parse. They are values, so parsing allocates nothing.
var (
	ErrSyntax       = errors.New("budget: malformed Sluice-Budget field")
	ErrTooLong      = errors.New("budget: Sluice-Budget field too long")
	ErrMissingMs    = errors.New("budget: Sluice-Budget has no ms member")
	ErrOutOfRange   = errors.New("budget: Sluice-Budget value out of range")
	ErrNotInteger   = errors.New("budget: Sluice-Budget member is not a non-negative integer")
	ErrNotAddress   = errors.New("budget: Sluice-Budget caller member is not a string holding an IP address")
	ErrGRPCSyntax   = errors.New("budget: malformed grpc-timeout")
	ErrSpent        = errors.New("budget: spent")
	ErrBelowMinimum = errors.New("budget: below the minimum worth starting")
	ErrLoop         = errors.New("budget: the request has passed MaxChain hops: a loop")
)

// Append appends the wire form of h to dst, rounding Remaining down to whole
// milliseconds (never overstating the time left) and clamping every member
// into its range. It allocates nothing when dst has room.
func (h Header) Append(dst []byte) []byte {
	ms := h.Remaining / time.Millisecond
	dst = append(dst, "ms="...)
	dst = strconv.AppendInt(dst, int64(clamp(ms, 0, MaxMillis)), 10)
	dst = append(dst, ", hop="...)
	dst = strconv.AppendInt(dst, int64(clamp(h.Hop, 0, MaxHops)), 10)
	if h.Retries > 0 {
		dst = append(dst, ", retry="...)
		dst = strconv.AppendInt(dst, int64(clamp(h.Retries, 0, MaxRetries)), 10)
	}
	if h.Caller.IsValid() {
		dst = append(dst, `, caller="`...)
		dst = h.Caller.WithZone("").AppendTo(dst)
		dst = append(dst, '"')
	}
	return dst
}

// String returns the wire form of h.
func (h Header) String() string {
	var buf [96]byte
	return string(h.Append(buf[:0]))
}

func clamp[T int | time.Duration](v, lo, hi T) T {
	return min(max(v, lo), hi)
}

// Parse decodes one Sluice-Budget field value. The value is an RFC 8941
// dictionary; the members ms (required), hop and retry must be non-negative
// integers within their bounds, parameters on them are ignored, and members
// with other names are skipped so the format can grow. As RFC 8941 says, a
// repeated member's last value wins: earlier ones are ignored, even invalid.
func Parse(s string) (Header, error) {
	var m members
	if err := parseInto(s, &m); err != nil {
		return Header{}, err
	}
	return m.header()
}

// ParseFields decodes a Sluice-Budget field sent on several lines, which
// HTTP defines as one value joined by commas. The bound MaxHeaderLen applies
// to that joined value, ", " between lines included. An empty line adds no
// member.
func ParseFields(values []string) (Header, error) {
	var m members
	total := 0
	for i, v := range values {
		if i > 0 {
			total += len(", ")
		}
		total += len(v)
		if total > MaxHeaderLen {
			return Header{}, ErrTooLong
		}
		if err := parseInto(v, &m); err != nil {
			return Header{}, err
		}
	}
	return m.header()
}

// member is the last value a dictionary gave one of the members Sluice reads.
type member struct {
	val   int64
	isInt bool
	set   bool
}

// members collects ms, hop, retry and caller while a field is parsed; they
// are checked once it has all been read, since only a repeated member's last
// value counts.
type members struct {
	ms, hop, retry member
	caller         textMember
}

// textMember is the last value a dictionary gave a member whose value is a
// String: its content as it stands between the quotes, escapes and all
// (a substring of the field, so that parsing allocates nothing).
type textMember struct {
	text  string
	isStr bool
	set   bool
}

// header checks the members' values and returns them as a Header.
func (m *members) header() (Header, error) {
	if !m.ms.set {
		return Header{}, ErrMissingMs
	}
	ms, err := m.ms.value(MaxMillis)
	if err != nil {
		return Header{}, err
	}
	hop, err := m.hop.value(MaxHops)
	if err != nil {
		return Header{}, err
	}
	retry, err := m.retry.value(MaxRetries)
	if err != nil {
		return Header{}, err
	}
	var caller netip.Addr
	if m.caller.set {
		if caller, err = m.caller.addr(); err != nil {
			return Header{}, err
		}
	}
	return Header{Remaining: time.Duration(ms) * time.Millisecond, Hop: int(hop), Retries: int(retry), Caller: caller}, nil
}

// addr returns the address a caller member holds. An escape in the String
// leaves no address (none has a quote or a backslash), and neither does a
// zone: an IPv6 zone names an interface of the sender's host only.
func (v textMember) addr() (netip.Addr, error) {
	if !v.isStr {
		return netip.Addr{}, ErrNotAddress
	}
	a, err := netip.ParseAddr(v.text)
	if err != nil || a.Zone() != "" {
		return netip.Addr{}, ErrNotAddress
	}
	return a, nil
}

// value returns a member's value, 0 when it is absent.
func (v member) value(maxVal int64) (int64, error) {
	switch {
	case !v.set:
		return 0, nil
	case !v.isInt || v.val < 0:
		return 0, ErrNotInteger
	case v.val > maxVal:
		return 0, ErrOutOfRange
	}
	return v.val, nil
}

// parseInto parses one field line as an RFC 8941 dictionary and records in m
// the last value of each member Sluice reads.
func parseInto(s string, m *members) error {
	if len(s) > MaxHeaderLen {
		return ErrTooLong
	}
	p := sfParser{s: s}
	p.skipSP()
	if p.done() {
		return nil // an empty dictionary
	}
	for {
		key, ok := p.key()
		if !ok {
			return ErrSyntax
		}
		var val int64 = 1 // a bare key is Boolean true
		isInt, isStr := false, false
		var text string
		if p.peek() == '=' {
			p.i++
			if p.peek() == '(' {
				if !p.innerList() {
					return ErrSyntax
				}
			} else {
				start := p.i
				v, kind := p.bareItem()
				if kind == kindBad {
					return ErrSyntax
				}
				val, isInt = v, kind == kindInt
				if isStr = s[start] == '"'; isStr {
					text = s[start+1 : p.i-1]
				}
			}
		}
		if !p.params() {
			return ErrSyntax
		}
		switch key {
		case "ms":
			m.ms = member{val: val, isInt: isInt, set: true}
		case "hop":
			m.hop = member{val: val, isInt: isInt, set: true}
		case "retry":
			m.retry = member{val: val, isInt: isInt, set: true}
		case "caller":
			m.caller = textMember{text: text, isStr: isStr, set: true}
		}
		p.skipOWS()
		if p.done() {
			return nil
		}
		if p.peek() != ',' {
			return ErrSyntax
		}
		p.i++
		p.skipOWS()
		if p.done() {
			return ErrSyntax // trailing comma
		}
	}
}
