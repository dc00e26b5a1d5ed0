package requestid

import (
	"context"
	"encoding/binary"
	"math/rand/v2"
)

// HeaderName is the HTTP field that carries a request's id, on requests
// (from the client to the gateway, and from each hop to the next) and on
// the answer the gateway gives.
const HeaderName = "X-Request-Id"

// MaxLen is the longest id accepted from a peer. Longer ones are replaced.
const MaxLen = 128

// Valid reports whether s may be taken as an id from a trusted peer: 1 to
// MaxLen bytes of ASCII letters, digits and -_.:+=/@, enough for UUIDs,
// ULIDs, hex and base64 ids, and nothing that could break a log line, a
// JSON string or a header.
func Valid(s string) bool {
	if len(s) == 0 || len(s) > MaxLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '-' || c == '_' || c == '.' || c == ':' || c == '+' || c == '=' || c == '/' || c == '@':
		default:
			return false
		}
	}
	return true
}

// New returns a fresh id: 128 random bits as 32 lowercase hex digits, the
// size of a W3C trace id. It draws from the runtime's per-thread ChaCha8
// generator (math/rand/v2), which takes no lock and makes no system call:
// ids are unpredictable and, at 128 bits, do not collide in practice. It
// costs one allocation, the string.
func New() string {
	var b [Len]byte
	return string(Append(b[:0]))
}

// Len is the length of an id New makes.
const Len = 32

// Append appends a fresh id, as New makes one, to dst and returns the
// extended slice: a caller with room of its own for the id's text saves
// New's allocation.
func Append(dst []byte) []byte {
	n := len(dst)
	dst = append(dst, make([]byte, Len)...)
	hex16(dst[n:n+16], rand.Uint64())
	hex16(dst[n+16:], rand.Uint64())
	return dst
}

// hex16 writes the 16 lowercase hex digits of v to b, the most significant
// first.
func hex16(b []byte, v uint64) {
	binary.BigEndian.PutUint64(b[:8], hex8(uint32(v>>32)))
	binary.BigEndian.PutUint64(b[8:16], hex8(uint32(v)))
}

// hex8 returns the 8 lowercase hex digits of v, the first (of v's top
// four bits) in the word's top byte: all eight digits at once, with no
// loop nor table, as every request that comes without an id gets one.
func hex8(v uint32) uint64 {
	const ones = 0x0101010101010101
	// Spread the nibbles to one a byte: nibble i in byte i.
	x := uint64(v)
	x = (x | x<<16) & 0x0000ffff0000ffff
	x = (x | x<<8) & 0x00ff00ff00ff00ff
	x = (x | x<<4) & 0x0f0f0f0f0f0f0f0f
	// A byte of 10 or more gets 6+n >= 16: bit 4 says it is a letter,
	// which is 'a'-'0'-10 = 39 further on than the digits.
	letters := (x + 6*ones) >> 4 & ones
	return x + '0'*ones + letters*39
}

// contextKey is the type of ContextKey.
type contextKey struct{}

// ContextKey is the key under which a context holds a request's id, as a
// string or as a Carrier. NewContext stores it; a package with its own
// context type (the budget's, the gateway's request context, which carry the
// id without another allocation) answers it from its Value method, with the
// context itself as the Carrier: a string returned from Value is boxed, one
// allocation per call, a pointer is not.
var ContextKey any = contextKey{}

// IsContextKey reports whether key is ContextKey. A context's Value method
// asks it rather than comparing key == ContextKey: two interfaces of the
// same dynamic type are compared by a call to the type's equality
// function, and every lookup of the id made that call at each context
// that answers it; a type assertion compares the type alone.
func IsContextKey(key any) bool {
	_, ok := key.(contextKey)
	return ok
}

// Carrier is what a context's Value may answer for ContextKey instead of
// the id itself: a value that holds the id.
type Carrier interface {
	RequestID() string
}

// NewContext returns a child of ctx that carries id.
func NewContext(ctx context.Context, id string) context.Context {
	return &idCtx{Context: ctx, id: id}
}

// idCtx carries the id inline: one allocation.
type idCtx struct {
	context.Context
	id string
}

func (c *idCtx) Value(key any) any {
	if IsContextKey(key) {
		return c // a Carrier: the id itself would be boxed on every call
	}
	return c.Context.Value(key)
}

// RequestID implements Carrier.
func (c *idCtx) RequestID() string { return c.id }

// FromContext returns the id of the request ctx belongs to, or "" when no
// id reached it.
func FromContext(ctx context.Context) string {
	switch v := ctx.Value(ContextKey).(type) {
	case string:
		return v
	case Carrier:
		return v.RequestID()
	}
	return ""
}
