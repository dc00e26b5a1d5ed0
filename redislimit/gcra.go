package redislimit

import (
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sluicehq/sluice/middleware"
)

// gcraScript decides one request of one key by the generic cell rate
// algorithm (GCRA), atomically: Redis runs a script to its end before any
// other command.
//
// Why GCRA rather than a sliding window: the state of a key is one number,
// its theoretical arrival time (TAT), in one key with an expiry, so memory
// is O(1) per client and the script reads and writes one key (no sorted set
// of timestamps growing with the rate, as an exact sliding log needs, and no
// second key and interpolation error, as the approximate sliding window
// has). It is exact: a quiet key may send burst requests at once, then one
// every interval, never more in any window, which is the token bucket of
// the per-replica limit, so that a route's limit means the same global or
// not. And its answer gives, for free, the remaining burst and the time
// until the next request is allowed and until the bucket is full again,
// which the RateLimit header fields and Retry-After need.
//
// Time is Redis's own TIME, in microseconds, read inside the script: every
// replica's request is judged by one clock, whatever the replicas' clocks
// say. (Redis 7 replicates a script's effects, not the script, so reading
// TIME before a write is allowed.)
//
// KEYS[1] holds the TAT in microseconds. ARGV[1] is the emission interval
// in microseconds (1e6 / rps), ARGV[2] the burst. The reply is {allowed (1
// or 0), remaining burst, microseconds until a request is allowed (0 when
// allowed), microseconds until the bucket is full}. A refusal writes
// nothing; an admission sets the TAT with an expiry at the moment the
// bucket would be full, so an idle key costs nothing.
const gcraScript = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now) or now
if tat < now then tat = now end
local new_tat = tat + interval
local allow_at = new_tat - burst * interval
if now < allow_at then
  return {0, 0, math.ceil(allow_at - now), math.ceil(tat - now)}
end
redis.call('SET', KEYS[1], string.format('%.17g', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, math.floor((now - allow_at) / interval), 0, math.ceil(new_tat - now)}
`

var gcra = redis.NewScript(gcraScript)

// parseGCRA turns the script's reply into a decision.
func parseGCRA(v any) (middleware.RateDecision, error) {
	a, ok := v.([]any)
	if !ok || len(a) != 4 {
		return middleware.RateDecision{}, fmt.Errorf("redislimit: unexpected script reply %T %v", v, v)
	}
	var n [4]int64
	for i, x := range a {
		if n[i], ok = x.(int64); !ok {
			return middleware.RateDecision{}, fmt.Errorf("redislimit: unexpected script reply element %T", x)
		}
	}
	return middleware.RateDecision{Allowed: n[0] == 1, Remaining: int(n[1]),
		RetryAfter: time.Duration(n[2]) * time.Microsecond, ResetAfter: time.Duration(n[3]) * time.Microsecond}, nil
}
