package redislimit

import (
	"context"
	"time"

	"github.com/redis/go-redis/v9"
)

// HeartbeatEvery is how often a Store counting replicas says it is alive;
// a replica silent for three of these is no longer counted.
const HeartbeatEvery = time.Second

// heartbeatScript records that replica ARGV[1] is alive at Redis's time,
// forgets those silent for ARGV[2] ms, and returns how many remain, in
// one sorted set KEYS[1] (member: replica id, score: last heartbeat in
// ms) that expires when every replica has gone.
const heartbeatScript = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - ttl)
redis.call('PEXPIRE', KEYS[1], ttl)
return redis.call('ZCARD', KEYS[1])
`

var heartbeat = redis.NewScript(heartbeatScript)

// CountReplicas makes the Store count the replicas sharing its Redis: it
// says it is alive as id (unique per replica) now and every
// HeartbeatEvery, in the background until Close, and Replicas returns the
// last count. Call it once.
func (s *Store) CountReplicas(id string) {
	s.beat(id)
	go func() {
		t := time.NewTicker(HeartbeatEvery)
		defer t.Stop()
		for {
			select {
			case <-s.closed:
				return
			case <-t.C:
				s.beat(id)
			}
		}
	}()
}

// beat sends one heartbeat and keeps the count it returns; while Redis
// does not answer, the last count stays (it is what fail-open shares are
// sized by while Redis is away).
func (s *Store) beat(id string) {
	ctx, cancel := context.WithTimeout(context.Background(), HeartbeatEvery)
	defer cancel()
	n, err := heartbeat.Run(ctx, s.client, []string{s.prefix + "replicas"}, id, (3 * HeartbeatEvery).Milliseconds()).Int64()
	if err == nil && n > 0 {
		s.replicas.Store(n)
	}
}

// AssumeReplicas makes n the count Replicas returns until a heartbeat has
// counted the replicas: a Store made to replace another (the gateway's
// reload of a changed redis block) goes on with the count the one it
// replaces saw, where a new Store would assume itself alone (1) while Redis
// is away. It changes nothing once a heartbeat has counted.
func (s *Store) AssumeReplicas(n int) {
	if n > 0 {
		s.replicas.CompareAndSwap(0, int64(n))
	}
}

// Replicas returns the last count of replicas CountReplicas saw, at least
// 1 (what a replica that never reached Redis assumes: itself alone).
func (s *Store) Replicas() int { return int(max(s.replicas.Load(), 1)) }
