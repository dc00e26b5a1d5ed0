package promhist

import (
	"math"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// written returns what m writes, without its created timestamp (each
// histogram has its own).
func written(t *testing.T, m prometheus.Metric) *dto.Metric {
	t.Helper()
	var out dto.Metric
	if err := m.Write(&out); err != nil {
		t.Fatal(err)
	}
	if out.Histogram == nil || out.Histogram.CreatedTimestamp == nil {
		t.Fatalf("no histogram, or no created timestamp: %v", &out)
	}
	out.Histogram.CreatedTimestamp = nil
	return &out
}

// reference returns client_golang's histogram of Opts's shape, with the
// labels and values given, and bucket factor instead of Opts's when not 0.
func reference(buckets []float64, factor float64, values ...string) prometheus.Observer {
	opts := Opts("h", "help", buckets)
	if factor != 0 {
		opts.NativeHistogramBucketFactor = factor
	}
	vec := prometheus.NewHistogramVec(opts, []string{"service", "hop"})
	return vec.WithLabelValues(values...)
}

// edgeValues are values at and around the edges: classic and native
// bucket bounds, zero and the zero bucket, negative values, values beyond
// the flat array's range, infinities and NaN.
var edgeValues = []float64{
	0, 1e-45, -1e-45, zeroThreshold, -zeroThreshold, 1e-38,
	.001, .0025, .005, .01, 10, 10.000001, 60, 61,
	.5, 1, 2, 0.25, math.Exp2(1.0 / 8), math.Exp2(-3.0 / 8), math.Nextafter(1, 2), math.Nextafter(1, 0),
	math.Exp2(-32), math.Nextafter(math.Exp2(-32), 0), math.Exp2(12), math.Nextafter(math.Exp2(12), 1e9),
	1e-12, 1e20, math.MaxFloat64, -0.5, -3, -1e20,
	math.Inf(1), math.Inf(-1), math.NaN(),
}

// TestHistogramMatchesClientGolang observes the same values into a
// Histogram and into client_golang's histogram made with Opts, and wants
// the same metric written: labels, count, sum, classic buckets, schema,
// zero bucket and native spans and deltas.
func TestHistogramMatchesClientGolang(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	latencies := make([]float64, 5000)
	for i := range latencies { // log-uniform, 10 µs to 30 s
		latencies[i] = math.Exp(math.Log(1e-5) + rng.Float64()*(math.Log(30)-math.Log(1e-5)))
	}
	tests := []struct {
		name    string
		buckets []float64
		values  []float64
	}{
		{"none", Durations, nil},
		{"one", Durations, []float64{0.003}},
		{"latencies", Durations, latencies},
		{"budgets", Budgets, latencies},
		{"edges", Durations, edgeValues},
		{"no classic buckets", nil, append(latencies[:100:100], edgeValues...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ours := NewVec("h", "help", tt.buckets, []string{"service", "hop"}).WithLabelValues("greeter", "1")
			ref := reference(tt.buckets, 0, "greeter", "1")
			for _, v := range tt.values {
				ours.Observe(v)
				ref.Observe(v)
			}
			got, want := written(t, ours.(prometheus.Metric)), written(t, ref.(prometheus.Metric))
			if !proto.Equal(got, want) {
				t.Errorf("written:\n%v\nclient_golang:\n%v", got, want)
			}
		})
	}
}

// TestHistogramLowersItsResolution fills every native bucket from 2^-28 to
// 2^10 (304 at schema 3): the histogram must write them at schema 2 (152
// buckets), as client_golang's histogram of schema 2 writes them.
func TestHistogramLowersItsResolution(t *testing.T) {
	ours := NewVec("h", "help", Durations, []string{"service", "hop"}).WithLabelValues("greeter", "1")
	ref := reference(Durations, 1.19, "greeter", "1") // schema 2
	for k := -28 * perOctave; k < 10*perOctave; k++ {
		v := math.Exp2((float64(k) - 0.5) / perOctave) // inside bucket k
		ours.Observe(v)
		ref.Observe(v)
	}
	got, want := written(t, ours.(prometheus.Metric)), written(t, ref.(prometheus.Metric))
	if s := got.Histogram.GetSchema(); s != 2 {
		t.Errorf("schema %d, want 2", s)
	}
	if !proto.Equal(got, want) {
		t.Errorf("written:\n%v\nclient_golang at schema 2:\n%v", got, want)
	}
}

// TestHistogramWriteDuringObserve writes while goroutines observe: a count
// below the buckets' sum is what Prometheus refuses.
func TestHistogramWriteDuringObserve(t *testing.T) {
	h := NewVec("h", "help", Durations, nil).WithLabelValues()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for g := range 4 {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 7))
			for {
				select {
				case <-stop:
					return
				default:
				}
				h.Observe(rng.Float64() * 2)
			}
		})
	}
	for range 200 {
		m := written(t, h.(prometheus.Metric)).Histogram
		var native uint64
		var c int64
		for _, d := range m.PositiveDelta {
			c += d
			native += uint64(c)
		}
		native += m.GetZeroCount()
		classic := m.Bucket[len(m.Bucket)-1].GetCumulativeCount()
		if n := m.GetSampleCount(); n < native || n < classic {
			t.Fatalf("count %d below the native buckets' %d or the classic ones' %d", n, native, classic)
		}
	}
	close(stop)
	wg.Wait()
}

func TestVecLabels(t *testing.T) {
	v := NewVec("h", "help", Durations, []string{"service", "hop"})
	if v.WithLabelValues("a", "1") != v.WithLabelValues("a", "1") {
		t.Error("two histograms for the same label values")
	}
	if v.WithLabelValues("a", "b1") == v.WithLabelValues("ab", "1") {
		t.Error("one histogram for two label values")
	}
	for _, values := range [][]string{{"a"}, {"a", "1", "x"}, {"a", "\xff"}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("WithLabelValues(%q) did not panic", values)
				}
			}()
			v.WithLabelValues(values...)
		}()
	}
	v = NewVec("h", "help", Durations, []string{"service", "hop"})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(v)
	v.WithLabelValues("a", "1")
	v.WithLabelValues("b", "2").Observe(1)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 1 || len(mfs[0].Metric) != 2 || mfs[0].GetType() != dto.MetricType_HISTOGRAM {
		t.Fatalf("gathered %v, want one histogram family of two series", mfs)
	}
}

func BenchmarkObserve(b *testing.B) {
	b.Run("promhist", func(b *testing.B) {
		h := NewVec("h", "help", Durations, nil).WithLabelValues()
		v := 0.0003
		for b.Loop() {
			h.Observe(v)
			v += 1e-9
		}
	})
	b.Run("client_golang", func(b *testing.B) {
		h := prometheus.NewHistogram(Opts("h", "help", Durations))
		v := 0.0003
		for b.Loop() {
			h.Observe(v)
			v += 1e-9
		}
	})
}
