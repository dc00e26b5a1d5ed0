// Package rmap is a map for what the gateway looks up by a service's name
// on every request and adds to once per service: its state in the upstream
// client, its callers' shares of its concurrency limits, its upstream metric
// series; and by a route's name, the edge's request metric series.
//
// sync.Map did that job, but a lookup there hashes the key as an interface
// (the type's hash, then the string's) and compares keys through their
// type's equality, on every call: seven of those a proxied request cost
// about two percent of the gateway's instructions a request
// (bench/instr.sh). A Map's reader loads one pointer and indexes a plain Go
// map, which for a string key is the runtime's string-keyed path. A store
// copies the map under a lock, so a Map suits a key set that stops growing:
// one the configuration or the code bounds, such as service names. Past
// MaxCopied keys, which a program calling services by names its input
// chooses could reach, further keys go to a sync.Map instead, so that no
// key set makes the stores cost the square of its size.
package rmap

import (
	"maps"
	"sync"
	"sync/atomic"
)

// MaxCopied is how many keys a Map keeps in the map it copies on a store;
// it keeps any more in a sync.Map.
const MaxCopied = 1024

// Map is a map from K to V, safe for concurrent use, whose lookups take no
// lock. Its zero value is empty and ready to use. A Map must not be copied
// after first use.
type Map[K comparable, V any] struct {
	mu       sync.Mutex // serializes stores
	m        atomic.Pointer[map[K]V]
	overflow sync.Map // K → V: the keys stored once m held MaxCopied
	spilled  atomic.Bool
}

// Load returns the value stored for k, and whether there is one.
func (m *Map[K, V]) Load(k K) (v V, ok bool) {
	if p := m.m.Load(); p != nil {
		if v, ok = (*p)[k]; ok {
			return v, true
		}
	}
	if m.spilled.Load() {
		if a, ok := m.overflow.Load(k); ok {
			return a.(V), true
		}
	}
	return v, false
}

// LoadOrStore returns the value stored for k, storing v for it first when
// there is none; loaded reports whether there was one. It copies the map
// when it stores.
func (m *Map[K, V]) LoadOrStore(k K, v V) (actual V, loaded bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var old map[K]V
	if p := m.m.Load(); p != nil {
		old = *p
		if a, ok := old[k]; ok {
			return a, true
		}
	}
	if len(old) >= MaxCopied {
		a, loaded := m.overflow.LoadOrStore(k, v)
		m.spilled.Store(true)
		return a.(V), loaded
	}
	next := make(map[K]V, len(old)+1)
	maps.Copy(next, old)
	next[k] = v
	m.m.Store(&next)
	return v, false
}

// Range calls f for each key and value stored, in no order, until f
// returns false: every key stored before Range began, and perhaps some
// stored meanwhile.
func (m *Map[K, V]) Range(f func(k K, v V) bool) {
	if p := m.m.Load(); p != nil {
		for k, v := range *p {
			if !f(k, v) {
				return
			}
		}
	}
	if m.spilled.Load() {
		m.overflow.Range(func(k, v any) bool { return f(k.(K), v.(V)) })
	}
}
