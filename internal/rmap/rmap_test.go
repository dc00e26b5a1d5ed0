package rmap

import (
	"fmt"
	"sync"
	"testing"
)

func TestMap(t *testing.T) {
	var m Map[string, int]
	if _, ok := m.Load("a"); ok {
		t.Fatal("the zero Map has a key")
	}
	m.Range(func(string, int) bool { t.Fatal("Range on the zero Map called f"); return true })
	if v, loaded := m.LoadOrStore("a", 1); v != 1 || loaded {
		t.Fatalf("first LoadOrStore = %d, %v; want 1, false", v, loaded)
	}
	if v, loaded := m.LoadOrStore("a", 2); v != 1 || !loaded {
		t.Fatalf("second LoadOrStore = %d, %v; want 1, true", v, loaded)
	}
	m.LoadOrStore("b", 3)
	if v, ok := m.Load("b"); v != 3 || !ok {
		t.Fatalf("Load(b) = %d, %v", v, ok)
	}
	got := map[string]int{}
	m.Range(func(k string, v int) bool { got[k] = v; return true })
	if len(got) != 2 || got["a"] != 1 || got["b"] != 3 {
		t.Fatalf("Range saw %v", got)
	}
	n := 0
	m.Range(func(string, int) bool { n++; return false })
	if n != 1 {
		t.Fatalf("Range went on after f returned false: %d calls", n)
	}
}

// TestMapConcurrent: goroutines storing and loading the same keys all get
// the one value stored first for each (run with -race).
func TestMapConcurrent(t *testing.T) {
	var m Map[string, *int]
	const keys, workers = 50, 8
	got := make([][keys]*int, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range keys {
				k := fmt.Sprint(i)
				if v, ok := m.Load(k); ok {
					got[w][i] = v
					continue
				}
				got[w][i], _ = m.LoadOrStore(k, new(int))
			}
		})
	}
	wg.Wait()
	for i := range keys {
		for w := 1; w < workers; w++ {
			if got[w][i] != got[0][i] {
				t.Fatalf("key %d: workers got different values", i)
			}
		}
	}
}

func BenchmarkLoad(b *testing.B) {
	var m Map[string, int]
	var sm sync.Map
	for i := range 8 {
		m.LoadOrStore(fmt.Sprint("service-", i), i)
		sm.Store(fmt.Sprint("service-", i), i)
	}
	key := "service-5"
	b.Run("rmap", func(b *testing.B) {
		for b.Loop() {
			if _, ok := m.Load(key); !ok {
				b.Fatal("missing")
			}
		}
	})
	b.Run("sync.Map", func(b *testing.B) {
		for b.Loop() {
			if _, ok := sm.Load(key); !ok {
				b.Fatal("missing")
			}
		}
	})
}

// TestMapOverflow: past MaxCopied keys a Map goes on storing and finding
// every key, each stored once, without copying the map again.
func TestMapOverflow(t *testing.T) {
	var m Map[int, int]
	const n = MaxCopied + 500
	for i := range n {
		if v, loaded := m.LoadOrStore(i, i*2); v != i*2 || loaded {
			t.Fatalf("LoadOrStore(%d) = %d, %v", i, v, loaded)
		}
	}
	if got := len(*m.m.Load()); got != MaxCopied {
		t.Fatalf("the copied map holds %d keys, want %d", got, MaxCopied)
	}
	for i := range n {
		if v, ok := m.Load(i); !ok || v != i*2 {
			t.Fatalf("Load(%d) = %d, %v", i, v, ok)
		}
		if v, loaded := m.LoadOrStore(i, -1); !loaded || v != i*2 {
			t.Fatalf("LoadOrStore(%d) again = %d, %v", i, v, loaded)
		}
	}
	seen := make(map[int]bool)
	m.Range(func(k, v int) bool {
		if v != k*2 || seen[k] {
			t.Fatalf("Range gave %d → %d (seen before: %v)", k, v, seen[k])
		}
		seen[k] = true
		return true
	})
	if len(seen) != n {
		t.Fatalf("Range saw %d keys, want %d", len(seen), n)
	}
	if _, ok := m.Load(n); ok {
		t.Fatal("Load found a key never stored")
	}
}
