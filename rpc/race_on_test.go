//go:build race

package rpc_test

// raceEnabled: the race detector is on. Its sync.Pool drops a quarter of
// what is put back, at random, so a call that takes a pooled value
// (encoding/json's encode state and its buffer) allocates it again now and
// then: allocation counts then vary between runs.
const raceEnabled = true
