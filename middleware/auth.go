package middleware

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
)

type identityKey struct{}

// IdentityFrom returns the identity that Authenticate verified for the
// request of ctx.
func IdentityFrom(ctx context.Context) (*Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(*Identity)
	return id, ok
}

// Authenticate returns middleware that lets a request through only with a
// valid bearer token (RFC 6750, Authorization field only), and otherwise
// answers 401 with a WWW-Authenticate challenge and an unauthorized problem
// body (or 503, when the provider's JWKS has never loaded: the token may be
// good, and no key is known to check it). onFailure, when not nil, is called with the AuthError's reason.
//
// Before anything else it removes every header the verifier forwards claims
// into, so that a client cannot supply them, and the client's Connection
// options naming them, so that a client cannot have the gateway drop them
// either; after verification it sets them from the token, removes
// Authorization unless ForwardToken is set, and puts the Identity in the
// request's context (IdentityFrom).
func (v *JWTVerifier) Authenticate(onFailure func(reason string)) func(http.Handler) http.Handler {
	forwarded := v.ForwardedHeaders()
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			stripHeaders(r.Header, forwarded)
			unnameConnection(r.Header, forwarded)
			id, err := v.verifyRequest(r.Context(), r.Header)
			if err != nil {
				if onFailure != nil {
					onFailure(err.Reason)
				}
				writeUnauthorized(w, err)
				return
			}
			if !v.forwardToken {
				delete(r.Header, "Authorization")
			}
			for i, c := range v.claims {
				if f := id.forward[i]; f.ok {
					r.Header[c.header] = []string{f.value}
				}
			}
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), identityKey{}, id)))
		})
	}
}

func (v *JWTVerifier) verifyRequest(ctx context.Context, h http.Header) (*Identity, *AuthError) {
	fields := h["Authorization"]
	if len(fields) == 0 {
		return nil, authError(ReasonMissing, nil)
	}
	if len(fields) > 1 {
		return nil, authError(ReasonMalformed, fmt.Errorf("%d Authorization fields", len(fields)))
	}
	scheme, token, _ := strings.Cut(fields[0], " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return nil, authError(ReasonMissing, nil) // another scheme: no bearer credentials
	}
	token = strings.TrimLeft(token, " ")
	if token == "" {
		return nil, authError(ReasonMalformed, nil)
	}
	id, err := v.VerifyContext(ctx, token)
	if err != nil {
		return nil, err.(*AuthError)
	}
	return id, nil
}

// ForwardedHeaders returns the canonical names of the request headers v
// forwards claims into, sorted.
func (v *JWTVerifier) ForwardedHeaders() []string {
	names := make([]string, len(v.claims))
	for i, c := range v.claims {
		names[i] = c.header
	}
	return names
}

// stripHeaders removes the canonical names from h, including spellings
// with '_' for '-', which some backends (CGI, WSGI, Rack) read as the same
// name.
func stripHeaders(h http.Header, names []string) {
	if len(names) == 0 {
		return
	}
	for _, n := range names {
		delete(h, n)
	}
	for name := range h {
		if strings.IndexByte(name, '_') < 0 {
			continue
		}
		for _, n := range names {
			if sameUnderscored(name, n) {
				delete(h, name)
				break
			}
		}
	}
}

// unnameConnection removes from h's Connection field the options naming
// one of names. A proxy drops the fields its client's Connection field
// names (RFC 9110, section 7.6.1), and the router does so after the edge
// has set the claim headers: "Connection: X-Sluice-Subject" would have the
// gateway drop the subject it verified, and a backend that takes a missing
// claim header for an internal caller would believe the request came from
// no user at all. The client's own fields of those names are removed
// already, so the options named nothing of the client's.
func unnameConnection(h http.Header, names []string) {
	vv := h["Connection"]
	if len(names) == 0 || len(vv) == 0 {
		return
	}
	kept := make([]string, 0, len(vv))
	changed := false
	for _, v := range vv {
		var opts []string
		for f := range strings.SplitSeq(v, ",") {
			if t := strings.TrimSpace(f); t != "" && namesOne(t, names) {
				changed = true
				continue
			}
			opts = append(opts, f)
		}
		if v = strings.TrimSpace(strings.Join(opts, ",")); v != "" {
			kept = append(kept, v)
		}
	}
	switch {
	case !changed:
	case len(kept) == 0:
		delete(h, "Connection")
	default:
		h["Connection"] = kept
	}
}

// namesOne reports whether the field name t is one of names, in any case.
func namesOne(t string, names []string) bool {
	for _, n := range names {
		if strings.EqualFold(t, n) {
			return true
		}
	}
	return false
}

// sameUnderscored reports whether a and b are equal ignoring case and
// taking '_' for '-'.
func sameUnderscored(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if x == '_' {
			x = '-'
		}
		if y == '_' {
			y = '-'
		}
		if lower(x) != lower(y) {
			return false
		}
	}
	return true
}

func lower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// claimString renders a claim as a header value: strings as they are,
// numbers and booleans in JSON form, lists joined with commas, objects as
// JSON. A value that is absent, that a header cannot carry (control
// characters), or that the backend would read as another gives false:
// a string with whitespace at either end, which a recipient strips from a
// field's value (RFC 9110, section 5.5), so that a subject " admin" would
// reach it as "admin"; and a list with an element holding a comma, which
// a recipient splitting the field would read as two ("staff,admin" a
// group of its own, or "staff" and "admin"). Whoever can choose such a
// name at the identity provider would be another user, or hold another
// role. A comma in a single string ("Smith, John") is that string's.
func claimString(v any) (string, bool) {
	var s string
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		if strings.Trim(x, " \t") != x {
			return "", false
		}
		s = x
	case json.Number: // as the token wrote it (forwardValues)
		s = string(x)
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		s = strconv.FormatBool(x)
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			p, ok := claimString(e)
			if !ok || strings.Contains(p, ",") {
				return "", false
			}
			parts = append(parts, p)
		}
		s = strings.Join(parts, ",")
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return "", false
		}
		s = string(b)
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return "", false
		}
	}
	return s, true
}

// forwardValues returns the header value of each of v's forwarded claims
// in claims, the token's claims decoded from raw. A number is forwarded as
// the token wrote it, not as its float64 (which rounds integers beyond
// 2^53: ids 9007199254740993 and 9007199254740992 would both reach the
// backend as the second, one user taken for another); a claim holding one
// is taken from raw decoded again, numbers kept as text.
func (v *JWTVerifier) forwardValues(raw []byte, claims map[string]any) []forwardValue {
	if len(v.claims) == 0 {
		return nil
	}
	var exact map[string]any
	out := make([]forwardValue, len(v.claims))
	for i, c := range v.claims {
		val := claims[c.claim]
		if holdsNumber(val) {
			if exact == nil {
				d := json.NewDecoder(bytes.NewReader(raw))
				d.UseNumber()
				if d.Decode(&exact) != nil { // decoded once already: cannot fail
					exact = map[string]any{}
				}
			}
			val = exact[c.claim]
		}
		out[i].value, out[i].ok = claimString(val)
	}
	return out
}

// holdsNumber reports whether v, a decoded JSON value, is or holds a
// number.
func holdsNumber(v any) bool {
	switch x := v.(type) {
	case float64:
		return true
	case []any:
		return slices.ContainsFunc(x, holdsNumber)
	case map[string]any:
		for _, e := range x {
			if holdsNumber(e) {
				return true
			}
		}
	}
	return false
}

// reservedHeaders are header names a claim may not be forwarded into.
var reservedHeaders = map[string]bool{
	"Authorization": true, "Host": true, "Content-Length": true, "Content-Type": true,
	"Transfer-Encoding": true, "Connection": true, "Te": true, "Trailer": true, "Upgrade": true,
	"Sluice-Budget": true, "Grpc-Timeout": true, "X-Forwarded-For": true, "X-Forwarded-Host": true,
	"X-Forwarded-Proto": true, "Cookie": true,
}

// forwardHeader checks a header name a claim is forwarded into and returns
// its canonical form.
func forwardHeader(name string) (string, error) {
	if name == "" {
		return "", fmt.Errorf("empty header name")
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return "", fmt.Errorf("header name %q: use letters, digits and '-'", name)
		}
	}
	h := textproto.CanonicalMIMEHeaderKey(name)
	if reservedHeaders[h] {
		return "", fmt.Errorf("header %s is not one a claim may be forwarded into", h)
	}
	return h, nil
}
