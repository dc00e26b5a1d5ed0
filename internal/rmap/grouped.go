package rmap

import (
	"maps"
	"sync/atomic"
)

// Grouped is a table of values by group and key, read without a lock,
// whose writers copy only the group they change: the per-node state of
// package selector's Loads and package upstream's Limits, grouped by
// service. Each of those kept one map of every node, copied whole when a
// snapshot brought nodes it lacked: fine for one large service, but the
// first calls to 8,000 services of three nodes each copied that map 8,000
// times between them (22 s and 11 GiB allocated). A snapshot's nodes are
// one service's, so a store now copies that service's map alone.
//
// Load and Range may run at any time; Group, Store and Filter must be
// serialized by the caller (its own mutex), as must Len's reads. The zero
// value is empty and ready to use. A Grouped must not be copied after
// first use.
type Grouped[G, K comparable, V any] struct {
	groups Map[G, *atomic.Pointer[map[K]V]]
	n      int // entries in every group, as stored
}

// Load returns the value stored for k in group g, and whether there is one.
func (t *Grouped[G, K, V]) Load(g G, k K) (v V, ok bool) {
	if p, found := t.groups.Load(g); found {
		if m := p.Load(); m != nil {
			v, ok = (*m)[k]
		}
	}
	return v, ok
}

// Group returns group g's map, nil when it has none. The map must not be
// changed: a writer builds another and stores it.
func (t *Grouped[G, K, V]) Group(g G) map[K]V {
	if p, ok := t.groups.Load(g); ok {
		if m := p.Load(); m != nil {
			return *m
		}
	}
	return nil
}

// Store makes m group g's map. m must not be changed after.
func (t *Grouped[G, K, V]) Store(g G, m map[K]V) {
	p, ok := t.groups.Load(g)
	if !ok {
		p, _ = t.groups.LoadOrStore(g, new(atomic.Pointer[map[K]V]))
	}
	if old := p.Load(); old != nil {
		t.n -= len(*old)
	}
	t.n += len(m)
	p.Store(&m)
}

// Len returns how many entries the groups hold together.
func (t *Grouped[G, K, V]) Len() int { return t.n }

// Filter replaces every group's map with one without the entries keep
// rejects, calling keep once for each entry; a group whose entries it
// all keeps is left as it is. It takes
// time in the entries of every group: call it when they have doubled, say.
func (t *Grouped[G, K, V]) Filter(keep func(K, V) bool) {
	t.groups.Range(func(g G, p *atomic.Pointer[map[K]V]) bool {
		old := p.Load()
		if old == nil {
			return true
		}
		var drop []K
		for k, v := range *old {
			if !keep(k, v) {
				drop = append(drop, k)
			}
		}
		if len(drop) > 0 {
			next := maps.Clone(*old)
			for _, k := range drop {
				delete(next, k)
			}
			t.n -= len(drop)
			p.Store(&next)
		}
		return true
	})
}

// Range calls f for each entry of each group, until f returns false.
func (t *Grouped[G, K, V]) Range(f func(g G, k K, v V) bool) {
	t.groups.Range(func(g G, p *atomic.Pointer[map[K]V]) bool {
		if m := p.Load(); m != nil {
			for k, v := range *m {
				if !f(g, k, v) {
					return false
				}
			}
		}
		return true
	})
}
