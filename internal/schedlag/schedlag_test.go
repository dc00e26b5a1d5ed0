package schedlag

import (
	"math"
	"runtime"
	"sync"
	"testing"
	"time"
)

func TestLagOf(t *testing.T) {
	buckets := []float64{math.Inf(-1), 0, 1e-6, 1e-3, 10e-3, math.Inf(1)}
	prev := []uint64{0, 5, 5, 5, 5}
	tests := []struct {
		name string
		cur  []uint64
		want time.Duration
	}{
		{"nothing counted", []uint64{0, 5, 5, 5, 5}, 0},
		{"all fast", []uint64{0, 105, 5, 5, 5}, 0},
		{"all below a millisecond", []uint64{0, 5, 105, 5, 5}, time.Microsecond},
		{"a tenth slow: below the 90th", []uint64{0, 5, 95, 15, 5}, time.Microsecond},
		{"a fifth slow", []uint64{0, 5, 85, 25, 5}, time.Millisecond},
		{"all very slow", []uint64{0, 5, 5, 5, 105}, 10 * time.Millisecond},
		{"mismatched", []uint64{0, 1}, 0},
	}
	for _, tt := range tests {
		if got := lagOf(buckets, tt.cur, prev, 0.9); got != tt.want {
			t.Errorf("%s: lag %v, want %v", tt.name, got, tt.want)
		}
	}
}

// TestOwnLagSeesAStarvedProcess starves the process's one P with busy
// goroutines: the sampled lag must grow well above zero. It shows that the
// runtime histogram the limits rely on reports what they need.
func TestOwnLagSeesAStarvedProcess(t *testing.T) {
	prev := runtime.GOMAXPROCS(1)
	defer runtime.GOMAXPROCS(prev)
	var s schedLag
	s.start()
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
					for i := 0; i < 1e5; i++ {
						_ = i * i
					}
					runtime.Gosched()
				}
			}
		}()
	}
	deadline := time.Now().Add(20 * time.Second)
	for s.Load() < 100*time.Microsecond && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if got := s.Load(); got < 100*time.Microsecond {
		t.Fatalf("lag %v under 8 busy goroutines on one P, want at least 100µs", got)
	}
}
