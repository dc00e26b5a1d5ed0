// Package redislimit keeps rate limits that hold across gateway replicas in
// Redis: one generic cell rate algorithm (GCRA) state per route and client
// key, read and written by one atomic server-side Lua script, with the time
// taken from the Redis server (TIME) so that the replicas' clocks play no
// part.
//
// It exists because a limit kept in each process lets N replicas admit N
// times the limit. It is written so that a Redis that is down or stopped
// costs a request at most the Store's own timeout (milliseconds, not
// go-redis's seconds) and, once Redis is known to be failing, nothing at
// all: a breaker on Redis itself answers ErrUnavailable at once until a
// background probe (never a request) finds Redis back, and the pool
// reconnects by itself.
// What a request does without Redis (a local share of the limit, or a
// refusal) is the caller's business: see middleware.GlobalRateLimiter.
package redislimit
