// Package membudget bounds the memory that many requests hold at once
// for something no per-connection bound covers: the large request heads
// being read (package server) and the request bodies held for a retry
// (package router).
//
// A bound per connection is no bound of memory when the connections are
// many: 50,000 connections each allowed 64 KiB of something is 3 GiB. So
// what outgrows a connection's own small buffers takes its room from one
// Budget, and what finds none left is refused or handled another way,
// which costs the clients that send large things, not everyone.
//
// A Budget never blocks: Take answers at once, so a full budget never
// makes a request wait on another.
package membudget

import "sync/atomic"

// A Budget is a number of bytes that holders take and give back. The zero
// value has no room; use New.
type Budget struct {
	max  atomic.Int64
	held atomic.Int64
}

// New returns a Budget of max bytes.
func New(max int64) *Budget {
	b := new(Budget)
	b.max.Store(max)
	return b
}

// Take reserves n bytes, or reports false, reserving nothing, when the
// budget has not that much room left.
func (b *Budget) Take(n int64) bool {
	if b.held.Add(n) <= b.max.Load() {
		return true
	}
	b.held.Add(-n)
	return false
}

// Give gives back n bytes that Take reserved.
func (b *Budget) Give(n int64) { b.held.Add(-n) }

// Held returns the bytes reserved now.
func (b *Budget) Held() int64 { return b.held.Load() }

// Max returns the budget's size.
func (b *Budget) Max() int64 { return b.max.Load() }

// SetMax changes the budget's size. Holders keep what they took; if that is
// more than max, Take refuses until enough is given back.
func (b *Budget) SetMax(max int64) { b.max.Store(max) }
