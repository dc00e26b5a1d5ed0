package middleware

import (
	"math"
	"net/http"
	"strconv"
	"time"
)

// The header fields of draft-ietf-httpapi-ratelimit-headers (revisions 08
// to 11): RateLimit-Policy names the route's quota policy, RateLimit says
// what is left of it for this client. Both are Structured Field lists of one
// item, a string naming the policy with parameters:
//
//	RateLimit-Policy: "search";q=10;w=2
//	RateLimit: "search";r=7;t=1
//
// A token bucket maps onto a quota policy as q = burst requests in a window
// w = burst / rps seconds (the time an empty bucket takes to fill again),
// rounded up to whole seconds: a client that spends q requests per w
// seconds is never refused. r is the requests left now (the whole tokens in
// the bucket), t the seconds until the bucket is full again, rounded up.
//
// The names are in Go's canonical form (field names are case-insensitive),
// since the values are put in the header map directly.
const (
	headerRateLimitPolicy = "Ratelimit-Policy"
	headerRateLimit       = "Ratelimit"
)

// rateLimitFields are a limit's precomputed RateLimit-Policy value and the
// start of its RateLimit value.
type rateLimitFields struct {
	policy []string // one value, shared by every answer: never modified
	item   string   // the quoted policy name
}

// newRateLimitFields returns the fields of a limit named name (empty means
// "default") of rps requests a second in bursts of burst.
func newRateLimitFields(name string, rps float64, burst int) rateLimitFields {
	if name == "" {
		name = "default"
	}
	item := sfString(name)
	w := max(1, int64(math.Ceil(float64(burst)/rps-1e-9)))
	if float64(burst)/rps > 1e9 {
		w = 1e9
	}
	return rateLimitFields{item: item, policy: []string{item + ";q=" + strconv.Itoa(burst) + ";w=" + strconv.FormatInt(w, 10)}}
}

// set writes both fields into h: remaining requests left, reset until the
// bucket is full.
func (f rateLimitFields) set(h http.Header, remaining int, reset time.Duration) {
	h[headerRateLimitPolicy] = f.policy
	b := make([]byte, 0, len(f.item)+24)
	b = append(b, f.item...)
	b = append(b, ";r="...)
	b = strconv.AppendInt(b, int64(max(remaining, 0)), 10)
	b = append(b, ";t="...)
	b = strconv.AppendInt(b, ceilSeconds(reset), 10)
	h[headerRateLimit] = []string{string(b)}
}

// ceilSeconds returns d in whole seconds, rounded up, at least 0.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// sfString returns s as a Structured Field string (RFC 9651 section 3.3.3):
// quoted, with \ and " escaped; a byte outside printable ASCII, which an
// sf-string cannot hold, becomes '?'.
func sfString(s string) string {
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c < 0x20 || c > 0x7e:
			b = append(b, '?')
		default:
			b = append(b, c)
		}
	}
	return string(append(b, '"'))
}
