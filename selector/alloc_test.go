package selector_test

import (
	"testing"

	"github.com/sluicehq/sluice/selector"
)

// TestPickAllocatesNothing checks every strategy's Pick over 1,000 nodes,
// with and without tried nodes, and a pinned pick.
func TestPickAllocatesNothing(t *testing.T) {
	all := nodes(1000)
	tried := all[:3]
	for _, st := range strategies {
		p := st.s(all)
		for _, tc := range []struct {
			name string
			info selector.PickInfo
		}{{"nil", selector.PickInfo{}}, {"tried", selector.PickInfo{Tried: tried}}} {
			t.Run(st.name+"/"+tc.name, func(t *testing.T) {
				allocs := testing.AllocsPerRun(1000, func() {
					if _, err := p.Pick(tc.info); err != nil {
						t.Fatal(err)
					}
				})
				if allocs != 0 {
					t.Fatalf("Pick allocates %v times, want 0", allocs)
				}
			})
		}
	}
	t.Run("Pinnable/pinned", func(t *testing.T) {
		p := selector.Pinnable(selector.RoundRobin)(all)
		for _, v := range []string{"2.0.0", "v1.4", "1"} {
			if a := testing.AllocsPerRun(1000, func() {
				if _, err := p.Pick(selector.PickInfo{Version: v}); err != nil {
					t.Fatal(err)
				}
			}); a != 0 {
				t.Errorf("Pick pinned to %s allocates %v times, want 0", v, a)
			}
		}
	})
}

func TestLoadsStartAllocatesNothing(t *testing.T) {
	loads := selector.NewLoads()
	all := nodes(1000)
	loads.Start(all[7])() // the first Start on a node adds it to the table
	if a := testing.AllocsPerRun(1000, func() {
		done := loads.Start(all[7])
		if loads.InFlight(all[7]) != 1 {
			t.Fatal("not counted")
		}
		done()
	}); a != 0 {
		t.Fatalf("Start and done allocate %v times, want 0", a)
	}
}

// BenchmarkPick measures every strategy's Pick over 1,000 nodes, from one
// goroutine and from GOMAXPROCS goroutines sharing the picker.
func BenchmarkPick(b *testing.B) {
	all := nodes(1000)
	for _, st := range strategies {
		b.Run(st.name, func(b *testing.B) { benchPicker(b, st.s(all), selector.PickInfo{}) })
	}
	b.Run("Pinnable/pinned", func(b *testing.B) {
		benchPicker(b, selector.Pinnable(selector.LeastLoaded(selector.NewLoads()))(all), selector.PickInfo{Version: "2.0"})
	})
	b.Run("LeastLoaded/tried", func(b *testing.B) {
		benchPicker(b, selector.LeastLoaded(selector.NewLoads())(all), selector.PickInfo{Tried: all[:3]})
	})
}

func benchPicker(b *testing.B, p selector.Picker, info selector.PickInfo) {
	b.Run("serial", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := p.Pick(info); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := p.Pick(info); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// BenchmarkLoadsStart measures counting one request in flight on one of
// 1,000 known nodes.
func BenchmarkLoadsStart(b *testing.B) {
	loads := selector.NewLoads()
	all := nodes(1000)
	for _, n := range all {
		loads.Start(n)()
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		loads.Start(all[i%len(all)])()
		i++
	}
}

// BenchmarkBuild measures building a picker over a fresh snapshot of 1,000
// nodes: the cost paid once per discovery change.
func BenchmarkBuild(b *testing.B) {
	all := nodes(1000)
	for _, st := range strategies {
		b.Run(st.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = st.s(all)
			}
		})
	}
}
