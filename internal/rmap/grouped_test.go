package rmap

import (
	"maps"
	"testing"
)

func TestGrouped(t *testing.T) {
	var g Grouped[string, int, int]
	if _, ok := g.Load("a", 1); ok || g.Group("a") != nil || g.Len() != 0 {
		t.Fatal("the zero Grouped is not empty")
	}
	g.Store("a", map[int]int{1: 10, 2: 20})
	a := g.Group("a")
	g.Store("b", map[int]int{1: 100})
	if v, ok := g.Load("a", 2); v != 20 || !ok {
		t.Fatalf("Load(a, 2) = %d, %v", v, ok)
	}
	if v, ok := g.Load("b", 1); v != 100 || !ok {
		t.Fatalf("Load(b, 1) = %d, %v", v, ok)
	}
	if _, ok := g.Load("b", 2); ok {
		t.Fatal("Load(b, 2) found a key only a holds")
	}
	if g.Len() != 3 {
		t.Fatalf("Len = %d, want 3", g.Len())
	}
	next := maps.Clone(a)
	next[3] = 30
	g.Store("a", next)
	if g.Len() != 4 || len(a) != 2 {
		t.Fatalf("after a's new map: Len = %d (want 4), the old map holds %d (want 2)", g.Len(), len(a))
	}
	calls := 0
	g.Filter(func(k, v int) bool { calls++; return v != 20 && v != 100 })
	if calls != 4 || g.Len() != 2 {
		t.Fatalf("Filter called keep %d times (want 4), Len = %d (want 2)", calls, g.Len())
	}
	got := map[string]int{}
	g.Range(func(s string, k, v int) bool { got[s] += v; return true })
	if got["a"] != 40 || got["b"] != 0 {
		t.Fatalf("Range after Filter saw %v", got)
	}
	n := 0
	g.Range(func(string, int, int) bool { n++; return false })
	if n != 1 {
		t.Fatalf("Range went on after f returned false: %d calls", n)
	}
}
