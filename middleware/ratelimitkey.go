package middleware

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/netip"
	"net/textproto"
	"strings"
)

// Key kinds, each also the first byte of the keys it makes, so that the
// kinds never share a bucket.
const (
	keyIP      = 'i'
	keySubject = 's'
	keyHeader  = 'h'
	// maxRawKey is the longest value kept as it is in a key; a longer one
	// is replaced by its SHA-256, so that a key costs at most keyBufLen
	// bytes whatever clients send.
	maxRawKey = 64
	keyBufLen = 2 + maxRawKey
)

// RateLimitKey picks the bucket a request draws from. The zero value keys
// by the connection's peer address.
type RateLimitKey struct {
	kind    byte
	header  string
	proxies *TrustedProxies
}

// ParseRateLimitKey parses a key: "ip" (the client address, see
// TrustedProxies.ClientIP; IPv6 clients by their /64), "subject" (the
// verified token's sub, which needs Authenticate to run first) or
// "header:NAME" (the value of header NAME). Requests without a subject, or
// without the header (or with it on more than one line, or also spelt with
// '_' for '-'), are keyed by their address instead. proxies may be nil.
func ParseRateLimitKey(s string, proxies *TrustedProxies) (RateLimitKey, error) {
	k := RateLimitKey{proxies: proxies}
	switch {
	case s == "ip":
		k.kind = keyIP
	case s == "subject":
		k.kind = keySubject
	case strings.HasPrefix(s, "header:"):
		name := strings.TrimSpace(strings.TrimPrefix(s, "header:"))
		if name == "" || strings.ContainsAny(name, " \t:") {
			return k, fmt.Errorf("key %q: write header:NAME, such as header:X-Api-Key", s)
		}
		k.kind, k.header = keyHeader, textproto.CanonicalMIMEHeaderKey(name)
	default:
		return k, fmt.Errorf("unknown key %q: use ip, subject or header:NAME", s)
	}
	return k, nil
}

// NeedsIdentity reports whether the key reads the verified token's subject.
func (k RateLimitKey) NeedsIdentity() bool { return k.kind == keySubject }

// append appends r's key to dst, at most keyBufLen bytes.
func (k RateLimitKey) append(dst []byte, r *http.Request) []byte {
	switch k.kind {
	case keySubject:
		if id, ok := IdentityFrom(r.Context()); ok && id.Subject != "" {
			return appendKey(dst, keySubject, id.Subject)
		}
	case keyHeader:
		// A field sent more than once is no key: the gateway cannot tell
		// which line the backend reads (Go's the first, PHP behind
		// FastCGI the last, others both joined), so keying by one would
		// let a client draw a fresh bucket with a made-up line beside the
		// key the backend takes. Such a request is keyed by its address.
		// So is one that also sends the field spelt with '_' for '-'
		// (X_Api_Key), which CGI, WSGI and Rack backends read as the same
		// field: a made-up X-Api-Key would draw a fresh bucket while the
		// backend takes the key of X_Api_Key.
		if v := r.Header[k.header]; len(v) == 1 && v[0] != "" && !underscoredTwin(r.Header, k.header) {
			return appendKey(dst, keyHeader, v[0])
		}
	}
	return appendIP(dst, k.proxies.ClientIP(r))
}

// underscoredTwin reports whether h holds a field other than name that is
// name in another case or with '_' for '-'.
func underscoredTwin(h http.Header, name string) bool {
	for n := range h {
		if n != name && len(n) == len(name) && sameUnderscored(n, name) {
			return true
		}
	}
	return false
}

func appendKey(dst []byte, kind byte, v string) []byte {
	if len(v) <= maxRawKey {
		return append(append(dst, kind), v...)
	}
	sum := sha256.Sum256([]byte(v))
	return append(append(dst, kind-'a'+'A'), sum[:]...) // upper case: hashed
}

// appendIP appends the key of address a: IPv6 addresses by their /64, which
// one client usually holds whole. No address (a peer's that cannot be read)
// has a key of its own: As16 of the zero Addr is that of "::".
func appendIP(dst []byte, a netip.Addr) []byte {
	if !a.IsValid() {
		return append(dst, keyIP)
	}
	if a.Is6() {
		if p, err := a.Prefix(64); err == nil {
			a = p.Addr()
		}
	}
	b := a.As16()
	return append(append(dst, keyIP), b[:]...)
}
