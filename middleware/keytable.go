package middleware

import (
	"hash/maphash"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

const (
	tableShards = 64
	// sweepEvery bounds how often a full shard is swept for idle buckets.
	sweepEvery = time.Second
	// evictSample is how many buckets a full shard with none idle samples
	// to evict the fullest of.
	evictSample = 8
)

// keyTable maps client keys to token buckets, with at most maxKeys of them
// (rounded up to a multiple of the shard count). It is safe for concurrent
// use.
//
// A bucket that has refilled to its burst is idle: forgetting it changes
// nothing, since a new one starts full. When a shard is full, a new key
// first sweeps the shard's idle buckets (at most once per sweepEvery), and
// if none is idle evicts the fullest of a random sample of evictSample, the
// one whose client lost the least. So a flood of distinct keys costs a
// bounded table and O(1) work per new key, and can at worst refill the
// buckets of clients it pushes out.
type keyTable struct {
	seed     maphash.Seed
	limit    rate.Limit
	burst    int
	perShard int
	shards   [tableShards]keyShard
}

type keyShard struct {
	mu        sync.Mutex
	m         map[string]*rate.Limiter
	lastSweep time.Time
	_         [64]byte // keeps shards on cache lines of their own
}

func newKeyTable(limit rate.Limit, burst, maxKeys int) *keyTable {
	t := &keyTable{seed: maphash.MakeSeed(), limit: limit, burst: burst,
		perShard: max(1, (maxKeys+tableShards-1)/tableShards)}
	for i := range t.shards {
		t.shards[i].m = make(map[string]*rate.Limiter)
	}
	return t
}

// get returns the bucket of key, creating it full when there is none.
func (t *keyTable) get(key []byte, now time.Time) *rate.Limiter {
	s := &t.shards[maphash.Bytes(t.seed, key)%tableShards]
	s.mu.Lock()
	lim := s.m[string(key)]
	if lim == nil {
		if len(s.m) >= t.perShard {
			t.makeRoom(s, now)
		}
		lim = rate.NewLimiter(t.limit, t.burst)
		s.m[string(key)] = lim
	}
	s.mu.Unlock()
	return lim
}

// makeRoom frees at least one slot of the full shard s; s.mu is held.
func (t *keyTable) makeRoom(s *keyShard, now time.Time) {
	full := float64(t.burst)
	if now.Sub(s.lastSweep) >= sweepEvery || now.Before(s.lastSweep) {
		s.lastSweep = now
		for k, lim := range s.m {
			if lim.TokensAt(now) >= full {
				delete(s.m, k)
			}
		}
		if len(s.m) < t.perShard {
			return
		}
	}
	var victim string
	best, n := -1.0, 0
	for k, lim := range s.m { // map order is random: a random sample
		if tok := lim.TokensAt(now); tok > best {
			victim, best = k, tok
		}
		if n++; n == evictSample {
			break
		}
	}
	delete(s.m, victim)
}

// len returns the number of buckets held.
func (t *keyTable) len() int {
	n := 0
	for i := range t.shards {
		s := &t.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}
