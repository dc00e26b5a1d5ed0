package budget

import (
	"context"
	"net/netip"
	"testing"
	"time"
)

var (
	benchField  = "ms=1473, hop=2, retry=1"
	benchFields = []string{"ms=1473", "hop=2, retry=1"}
	benchHeader = Header{Remaining: 1473 * time.Millisecond, Hop: 2, Retries: 1}
	benchGRPC   = "1473000u"

	sinkHeader   Header
	sinkDuration time.Duration
	sinkErr      error
	sinkBytes    []byte
)

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sinkHeader, sinkErr = Parse(benchField)
	}
}

func BenchmarkParseFields(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sinkHeader, sinkErr = ParseFields(benchFields)
	}
}

func BenchmarkAppend(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 96)
	for b.Loop() {
		buf = benchHeader.Append(buf[:0])
	}
	sinkBytes = buf
}

func BenchmarkParseGRPCTimeout(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		sinkDuration, sinkErr = ParseGRPCTimeout(benchGRPC)
	}
}

func BenchmarkAppendGRPCTimeout(b *testing.B) {
	b.ReportAllocs()
	buf := make([]byte, 0, 16)
	for b.Loop() {
		buf = AppendGRPCTimeout(buf[:0], 1473*time.Millisecond)
	}
	sinkBytes = buf
}

func BenchmarkOutgoing(b *testing.B) {
	b.ReportAllocs()
	now := time.Now()
	ctx, cancel := NewContext(context.Background(), Info{Deadline: now.Add(time.Hour), Hop: 1})
	defer cancel()
	for b.Loop() {
		sinkHeader, sinkErr = Outgoing(ctx, now, time.Millisecond, 10*time.Second, 1)
	}
}

var callerHeader = Header{Remaining: 1473 * time.Millisecond, Hop: 2, Retries: 1, Caller: netip.MustParseAddr("2001:db8:1:2::")}

// TestHotPathAllocs pins down that the per-request codec work allocates
// nothing.
func TestHotPathAllocs(t *testing.T) {
	buf := make([]byte, 0, 96)
	tests := []struct {
		name string
		f    func()
	}{
		{"Parse", func() { sinkHeader, sinkErr = Parse(benchField) }},
		{"Parse error", func() { sinkHeader, sinkErr = Parse("ms=1.5") }},
		{"ParseFields", func() { sinkHeader, sinkErr = ParseFields(benchFields) }},
		{"Append", func() { buf = benchHeader.Append(buf[:0]) }},
		{"Parse with a caller", func() { sinkHeader, sinkErr = Parse(`ms=1473, hop=2, caller="2001:db8:1:2::"`) }},
		{"Append with a caller", func() { buf = callerHeader.Append(buf[:0]) }},
		{"ParseGRPCTimeout", func() { sinkDuration, sinkErr = ParseGRPCTimeout(benchGRPC) }},
		{"AppendGRPCTimeout", func() { buf = AppendGRPCTimeout(buf[:0], 1473*time.Millisecond) }},
	}
	for _, tt := range tests {
		if n := testing.AllocsPerRun(100, tt.f); n != 0 {
			t.Errorf("%s: %v allocations per run; want 0", tt.name, n)
		}
	}
}
