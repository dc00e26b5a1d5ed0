// Package problem writes RFC 9457 "problem details" bodies
// (application/problem+json), the one error format that the gateway, the budget
// middleware and RPC backends answer with.
package problem

import (
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sluicehq/sluice/requestid"
)

// ContentType is the media type of a problem body.
const ContentType = "application/problem+json"

// Problem types used across Sluice. Each is a URI reference, as RFC 9457 asks;
// docs/rpc.md lists what each means and whether a retry is safe.
const (
	TypeBudgetSpent  = "urn:sluice:problem:budget-spent"
	TypeBudgetTooLow = "urn:sluice:problem:budget-too-low"
	TypeBadRequest   = "urn:sluice:problem:bad-request"
	TypeNotFound     = "urn:sluice:problem:no-route"
	TypeNoNodes      = "urn:sluice:problem:no-nodes"
	TypeUpstream     = "urn:sluice:problem:upstream-failed"
	TypeNotProcessed = "urn:sluice:problem:not-processed"
	TypeMaybeDone    = "urn:sluice:problem:may-have-been-processed"
	TypeCircuitOpen  = "urn:sluice:problem:circuit-open"
	TypeRateLimited  = "urn:sluice:problem:rate-limited"
	TypeUnauthorized = "urn:sluice:problem:unauthorized"
	TypeMethod       = "urn:sluice:problem:method-not-allowed"
	TypeInternal     = "urn:sluice:problem:internal"
	TypeDraining     = "urn:sluice:problem:draining"
	TypeOverloaded   = "urn:sluice:problem:overloaded"
	// TypeForbidden: the route does not take requests from the client's
	// address (its allow_from).
	TypeForbidden = "urn:sluice:problem:forbidden"
	// TypeLoop: the request has passed budget.MaxChain hops; it came back
	// to a hop it passed (a node that is the gateway itself, a backend
	// that calls the route that led to it), 508 Loop Detected.
	TypeLoop = "urn:sluice:problem:loop-detected"
	// TypeKeysUnavailable: a route's JWT provider has no keys yet (its JWKS
	// was never fetched), so no token can be checked.
	TypeKeysUnavailable = "urn:sluice:problem:keys-unavailable"
	// TypeLimiterDown: a route whose global rate limit fails closed could
	// not reach its store.
	TypeLimiterDown = "urn:sluice:problem:rate-limit-unavailable"
)

// Write answers with a problem body. detail may be empty. When the answer
// already carries an X-Request-Id field (the gateway sets it on every answer
// before any handler runs), the body names that id in its request_id member,
// so that a client can quote it. It builds the body by hand so that it costs
// one allocation, and it never fails on odd input: strings are JSON-escaped.
func Write(w http.ResponseWriter, status int, typ, title, detail string) {
	h := w.Header()
	var id string
	if v := h[requestid.HeaderName]; len(v) > 0 {
		id = v[0]
	}
	h.Set("Content-Type", ContentType)
	h.Set("Cache-Control", "no-store")
	h.Del("Content-Length")
	w.WriteHeader(status)
	_, _ = w.Write(BodyFor(status, typ, title, detail, id))
}

// Body returns the JSON text of a problem, ending with a newline.
func Body(status int, typ, title, detail string) []byte {
	return BodyFor(status, typ, title, detail, "")
}

// BodyFor returns the JSON text of a problem about the request whose id is
// requestID, named in a request_id member (an extension member, as RFC 9457
// allows), or left out when requestID is empty.
func BodyFor(status int, typ, title, detail, requestID string) []byte {
	b := make([]byte, 0, 96+len(typ)+len(title)+len(detail)+len(requestID))
	b = append(b, `{"type":`...)
	b = appendJSONString(b, typ)
	b = append(b, `,"title":`...)
	b = appendJSONString(b, title)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(status), 10)
	if detail != "" {
		b = append(b, `,"detail":`...)
		b = appendJSONString(b, detail)
	}
	if requestID != "" {
		b = append(b, `,"request_id":`...)
		b = appendJSONString(b, requestID)
	}
	return append(b, "}\n"...)
}

const hex = "0123456789abcdef"

func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, `\ufffd`...)
			} else {
				b = append(b, s[i:i+size]...)
			}
			i += size - 1
			continue
		}
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20:
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		case c == '<' || c == '>' || c == '&':
			b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			b = append(b, c)
		}
	}
	return append(b, '"')
}

// IsProblem reports whether a Content-Type value names a problem body.
func IsProblem(contentType string) bool {
	ct, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(ct), ContentType)
}
