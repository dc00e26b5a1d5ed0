package middleware

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"strings"
	"sync/atomic"

	"github.com/sluicehq/sluice/internal/problem"
)

// API keys.
//
// A public API's partners and scripts seldom run an OAuth client: they are
// given a key, sent in a header on every request. Without a check at the
// edge each backend checked keys of its own, and a request with a wrong
// key still cost a node its round trip (and a flood of them, the service).
// APIKeys checks them at the edge, where JWTs are checked, and gives the
// request the same Identity a token does: the key's name as its subject
// (rate_limit key: subject, one bucket a partner), and the key's claims
// for require_claims.
//
// The keys are held as the SHA-256 digests of the keys, never the keys: a
// configuration, a Consul KV value or a backup that leaks gives no key.
// The digest of the key a request sends is looked up in a map. How long
// the lookup takes may depend on that digest, but a digest tells nothing
// of the key it is of, so that timing lookups teaches an attacker nothing
// of a valid key (where comparing keys byte by byte would). The key's
// header is removed before the request is forwarded: a backend never sees
// a client's secret.

// DefaultAPIKeyHeader is the field an API key is sent in by default.
const DefaultAPIKeyHeader = "X-Api-Key"

// Reasons an API key is refused: values of AuthError.Reason (and of the
// reason label of sluice_auth_failures_total) beside the token's.
const (
	ReasonAPIKeyMissing = "api_key_missing" // no key field, an empty one, or several
	ReasonAPIKeyUnknown = "api_key_unknown" // a key no entry holds
)

// APIKey is one key APIKeys accepts.
type APIKey struct {
	// Name names the key's holder: the Identity's Subject (and its "sub"
	// claim), logged and counted, never secret.
	Name string
	// SHA256 is the SHA-256 digest of the key.
	SHA256 [sha256.Size]byte
	// Claims are the Identity's other claims, for ClaimRequirements:
	// {"scope": ["orders:read"]}.
	Claims map[string][]string
}

// ParseSHA256 reads a hex SHA-256 digest, as `sha256sum` prints it.
func ParseSHA256(s string) ([sha256.Size]byte, error) {
	var d [sha256.Size]byte
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != sha256.Size {
		return d, fmt.Errorf("%q is not a hex SHA-256 digest (64 hex digits)", s)
	}
	copy(d[:], b)
	return d, nil
}

// APIKeys checks the API key of each request against a set of keys, which
// Set replaces while requests are served. The zero APIKeys is not usable:
// make one with NewAPIKeys.
type APIKeys struct {
	header    string // canonical
	forward   string // canonical; empty: none
	challenge string
	keys      atomic.Pointer[map[[sha256.Size]byte]*Identity]
}

// NewAPIKeys returns an APIKeys that reads keys from header
// (DefaultAPIKeyHeader when empty), with keys to start with. When forward
// is not empty, a request let through carries its key's name in that
// field, set by the gateway alone (the client's own is removed).
func NewAPIKeys(header, forward string, keys []APIKey) (*APIKeys, error) {
	if header == "" {
		header = DefaultAPIKeyHeader
	}
	if forward != "" {
		if !isToken(forward) || RequestFieldOwned(forward) || strings.EqualFold(forward, header) {
			return nil, fmt.Errorf("forward_name %q: a field name, not the key's nor one the gateway keeps", forward)
		}
		forward = textproto.CanonicalMIMEHeaderKey(forward)
	}
	if !isToken(header) {
		return nil, fmt.Errorf("header %q is not a field name", header)
	}
	if RequestFieldOwned(header) {
		return nil, fmt.Errorf("header %s is the gateway's own (framing, connection, budget or forwarded client)", header)
	}
	a := &APIKeys{header: textproto.CanonicalMIMEHeaderKey(header), forward: forward}
	a.challenge = `APIKey realm="sluice", header="` + a.header + `"`
	if err := a.Set(keys); err != nil {
		return nil, err
	}
	return a, nil
}

// Header returns the field the keys are read from, canonical.
func (a *APIKeys) Header() string { return a.header }

// ForwardedHeaders returns the field the key's name is forwarded in, if
// any, canonical: the gateway removes it from every client request.
func (a *APIKeys) ForwardedHeaders() []string {
	if a.forward == "" {
		return nil
	}
	return []string{a.forward}
}

// Set replaces the keys accepted, for the requests that arrive after it.
// It refuses a set with a name or a digest twice, or an empty name,
// keeping the keys it had.
func (a *APIKeys) Set(keys []APIKey) error {
	m := make(map[[sha256.Size]byte]*Identity, len(keys))
	names := make(map[string]bool, len(keys))
	for i, k := range keys {
		switch {
		case k.Name == "":
			return fmt.Errorf("key %d has no name", i)
		case names[k.Name]:
			return fmt.Errorf("key %d: name %q is another key's", i, k.Name)
		case m[k.SHA256] != nil:
			return fmt.Errorf("key %d (%s): its digest is %s's too", i, k.Name, m[k.SHA256].Subject)
		}
		names[k.Name] = true
		claims := map[string]any{"sub": k.Name}
		for c, vs := range k.Claims {
			if c == "sub" {
				return fmt.Errorf("key %d (%s): the sub claim is its name", i, k.Name)
			}
			list := make([]any, len(vs))
			for j, v := range vs {
				list[j] = v
			}
			claims[c] = list
		}
		m[k.SHA256] = &Identity{Subject: k.Name, Claims: claims}
	}
	a.keys.Store(&m)
	return nil
}

// Len returns how many keys are accepted.
func (a *APIKeys) Len() int { return len(*a.keys.Load()) }

// verify returns the identity of the key h holds.
func (a *APIKeys) verify(h http.Header) (*Identity, *AuthError) {
	fields := h[a.header]
	if len(fields) != 1 || fields[0] == "" {
		var err error
		if len(fields) > 1 {
			err = fmt.Errorf("%d %s fields", len(fields), a.header)
		}
		return nil, authError(ReasonAPIKeyMissing, err)
	}
	id := (*a.keys.Load())[sha256.Sum256([]byte(fields[0]))]
	if id == nil {
		return nil, authError(ReasonAPIKeyUnknown, errors.New("no key has this digest"))
	}
	return id, nil
}

// Authenticate returns middleware that lets a request through only with a
// key of the set, in one field of the header, and otherwise answers 401
// with an unauthorized problem body. onFailure, when not nil, is called
// with the reason. The key's field is removed before the request goes on,
// and the client's own of the forwarded name's field (with the Connection
// options naming either, so that the client cannot have the gateway drop
// the name it set); the key's name is set in it, and the Identity put in
// the request's context (IdentityFrom).
func (a *APIKeys) Authenticate(onFailure func(reason string)) func(http.Handler) http.Handler {
	own := append([]string{a.header}, a.ForwardedHeaders()...)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id, err := a.verify(r.Header)
			stripHeaders(r.Header, own)
			unnameConnection(r.Header, own)
			if err != nil {
				if onFailure != nil {
					onFailure(err.Reason)
				}
				w.Header().Set("WWW-Authenticate", a.challenge)
				problem.Write(w, http.StatusUnauthorized, problem.TypeUnauthorized, "Unauthorized", apiKeyText[err.Reason])
				return
			}
			if a.forward != "" {
				r.Header[a.forward] = []string{id.Subject}
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
		})
	}
}

// apiKeyText is the detail of each refusal: fixed text, nothing of the
// key echoed.
var apiKeyText = map[string]string{
	ReasonAPIKeyMissing: "an API key is required, in one field",
	ReasonAPIKeyUnknown: "the API key is not valid",
}
