package logsample

import (
	"fmt"
	"sync"
	"testing"
	"time"
)

// TestSampler: the first 5 lines of a key in a window go, the rest are
// counted and reported by the first line of a later window; keys are
// counted apart.
func TestSampler(t *testing.T) {
	now := time.Unix(1000, 0)
	s := New(5, time.Second, func() time.Time { return now })
	passed := 0
	for range 100 {
		if ok, dropped := s.Allow("a"); ok {
			passed++
			if dropped != 0 {
				t.Fatalf("a line of the first window reports %d dropped", dropped)
			}
		}
	}
	if passed != 5 {
		t.Fatalf("%d lines of 100 in one window went, want 5", passed)
	}
	if ok, _ := s.Allow("b"); !ok {
		t.Fatal("another key's first line was dropped")
	}
	now = now.Add(999 * time.Millisecond)
	if ok, _ := s.Allow("a"); ok {
		t.Fatal("a line went before the window ended")
	}
	now = now.Add(time.Millisecond)
	ok, dropped := s.Allow("a")
	if !ok || dropped != 96 {
		t.Fatalf("the next window's first line: went %v, reports %d dropped; want true and 96", ok, dropped)
	}
	if ok, dropped := s.Allow("a"); !ok || dropped != 0 {
		t.Fatalf("the next line: went %v, reports %d dropped; want true and 0", ok, dropped)
	}
}

// TestSamplerForgetsPastMaxKeys: remembering keys is bounded; forgetting
// them lets a line through again.
func TestSamplerForgetsPastMaxKeys(t *testing.T) {
	now := time.Unix(1000, 0)
	s := New(1, time.Second, func() time.Time { return now })
	s.Allow("first")
	if ok, _ := s.Allow("first"); ok {
		t.Fatal("a second line went with Per 1")
	}
	for i := range maxKeys {
		s.Allow(fmt.Sprint(i))
	}
	if len(s.keys) > maxKeys {
		t.Fatalf("%d keys remembered, want at most %d", len(s.keys), maxKeys)
	}
	if ok, _ := s.Allow("first"); !ok {
		t.Fatal("a forgotten key's line was dropped")
	}
}

// TestSamplerConcurrent: under -race, goroutines sampling one key let
// exactly Per lines through in a window.
func TestSamplerConcurrent(t *testing.T) {
	now := time.Unix(1000, 0)
	s := New(5, time.Second, func() time.Time { return now })
	var wg sync.WaitGroup
	var mu sync.Mutex
	passed := 0
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if ok, _ := s.Allow("k"); ok {
					mu.Lock()
					passed++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	if passed != 5 {
		t.Fatalf("%d lines went, want 5", passed)
	}
}
