package membudget

import (
	"sync"
	"sync/atomic"
	"testing"
)

func TestTakeRefusesPastTheMax(t *testing.T) {
	b := New(100)
	if !b.Take(60) || !b.Take(40) {
		t.Fatal("room for 100 refused")
	}
	if b.Take(1) {
		t.Fatal("took past the max")
	}
	if b.Held() != 100 {
		t.Fatalf("held %d after a refusal, want 100", b.Held())
	}
	b.Give(40)
	if !b.Take(30) || b.Take(11) {
		t.Fatalf("after giving 40 back: held %d", b.Held())
	}
	b.SetMax(50)
	if b.Take(1) {
		t.Fatal("took past a lowered max")
	}
	b.Give(90)
	if !b.Take(50) || b.Max() != 50 {
		t.Fatalf("held %d, max %d", b.Held(), b.Max())
	}
}

// Concurrent holders are never granted more than the max together.
func TestConcurrentTakesStayWithinTheMax(t *testing.T) {
	const max, each = 20, 7 // room for two holders, never three
	b := New(max)
	var granted atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 5000 {
				if b.Take(each) {
					if g := granted.Add(each); g > max {
						t.Errorf("%d bytes granted at once, max %d", g, max)
					}
					granted.Add(-each)
					b.Give(each)
				}
			}
		})
	}
	wg.Wait()
	if b.Held() != 0 {
		t.Fatalf("held %d at the end", b.Held())
	}
}
