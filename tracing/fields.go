package tracing

import "strings"

// The fields of a request that carry trace context, in any format a
// backend's tracer may read. The gateway propagates W3C trace context only,
// but a backend may be instrumented with another propagator (B3 for Zipkin
// and Envoy meshes, Jaeger's, OpenTracing's, Datadog's, AWS X-Ray's, Google
// Cloud's), often beside W3C's: a client's field in any of them lets the
// client choose the backend's trace and whether it is sampled (B3's
// X-B3-Sampled and X-B3-Flags, Jaeger's jaeger-debug-id, Datadog's
// x-datadog-sampling-priority and X-Cloud-Trace-Context's o=1 force it),
// and their baggage reaches the backend's code as its caller's. So a client
// whose W3C context is distrusted (PublicEndpoint, StripContext) has these
// removed too; the names are those the formats' propagators read.
//
// The check runs on every request of the default route, so it is one pass
// over the header's keys (a request has a few) that compares a key only
// when its first letter allows a match, and allocates nothing; keys are as
// textproto canonicalizes them, which both listener servers do.

// Canonical names of the prefixes whose every field is a baggage item.
const (
	jaegerBaggagePrefix = "Uberctx-"    // Jaeger: uberctx-{key}
	otBaggagePrefix     = "Ot-Baggage-" // OpenTracing: ot-baggage-{key}
)

// maxContextField is the length of the longest exact name contextField
// knows (X-Datadog-Sampling-Priority).
const maxContextField = len("X-Datadog-Sampling-Priority")

// contextField reports whether the canonical field name k carries trace
// context (or baggage, or a sampling decision) in a format a backend's
// tracer may read: W3C's traceparent, tracestate and baggage, and the
// other formats' fields above. A name spelled with '_' for '-'
// (X_B3_Traceid) is one too: CGI, WSGI and Rack backends read it as the
// '-' one, as the identity fields' stripping assumes (package middleware).
func contextField(k string) bool {
	if len(k) < 2 {
		return false
	}
	// The first letters of the names, and for the common X- and U ones
	// the next letters, so that X-Request-Id and User-Agent go no further.
	switch k[0] {
	case 'B', 'G', 'J', 'O', 'T':
	case 'U': // Uber-Trace-Id, Uberctx-
		if k[1] != 'b' {
			return false
		}
	case 'X': // X-B3-, X-Datadog-, X-Amzn-, X-Cloud-
		if len(k) < 3 {
			return false
		}
		switch k[2] | 0x20 { // in either case: X_b3_sampled
		case 'a', 'b', 'c', 'd':
		default:
			return false
		}
	default:
		return false
	}
	if knownField(k) {
		return true
	}
	if strings.IndexByte(k, '_') >= 0 {
		return underscoredField(k)
	}
	return false
}

// knownField reports whether k, canonical, is one of the exact names or
// has one of the baggage prefixes.
func knownField(k string) bool {
	if len(k) <= maxContextField {
		switch k {
		case "Traceparent", "Tracestate", "Baggage", // W3C
			"B3", "X-B3-Traceid", "X-B3-Spanid", "X-B3-Parentspanid", "X-B3-Sampled", "X-B3-Flags", // B3
			"Uber-Trace-Id", "Jaeger-Debug-Id", "Jaeger-Baggage", // Jaeger
			"Ot-Tracer-Traceid", "Ot-Tracer-Spanid", "Ot-Tracer-Sampled", // OpenTracing
			"X-Datadog-Trace-Id", "X-Datadog-Parent-Id", "X-Datadog-Sampling-Priority",
			"X-Datadog-Origin", "X-Datadog-Tags", // Datadog
			"X-Amzn-Trace-Id",                         // AWS X-Ray
			"X-Cloud-Trace-Context", "Grpc-Trace-Bin": // Google Cloud, OpenCensus
			return true
		}
	}
	switch k[0] {
	case 'U':
		return strings.HasPrefix(k, jaegerBaggagePrefix)
	case 'O':
		return strings.HasPrefix(k, otBaggagePrefix)
	}
	return false
}

// underscoredField reports whether k, read with '-' for each '_' and
// canonicalized again, is a contextField: textproto leaves the letters
// after a '_' in lower case (X_b3_traceid). Such names are rare, so this
// may cost more than knownField.
func underscoredField(k string) bool {
	var buf [64]byte
	b := buf[:0]
	if len(k) > len(buf) {
		b = make([]byte, 0, len(k))
	}
	upper := true
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c == '_' {
			c = '-'
		}
		if upper && 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		b = append(b, c)
		upper = c == '-'
	}
	return knownField(string(b))
}
