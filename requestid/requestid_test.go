package requestid

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"0af7651916cd43dd8448eb211c80319c", true},
		{"01ARZ3NDEKTSV4RRFFQ69G5FAV", true},
		{"f47ac10b-58cc-4372-a567-0e02b2c3d479", true},
		{"Root=1-5759e988-bd862e3fe1be46a994272793", true},
		{"a", true},
		{strings.Repeat("a", MaxLen), true},
		{"", false},
		{strings.Repeat("a", MaxLen+1), false},
		{"has space", false},
		{"quote\"", false},
		{"line\nbreak", false},
		{"semi;colon", false},
		{"caf\xc3\xa9", false},
		{"<script>", false},
	} {
		if got := Valid(tc.id); got != tc.want {
			t.Errorf("Valid(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

func TestNewIsValidHexAndDistinct(t *testing.T) {
	seen := make(map[string]bool)
	for range 10000 {
		id := New()
		if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" || !Valid(id) {
			t.Fatalf("New() = %q, want 32 lowercase hex digits", id)
		}
		if seen[id] {
			t.Fatalf("New() repeated %q", id)
		}
		seen[id] = true
	}
}

func TestContext(t *testing.T) {
	if got := FromContext(context.Background()); got != "" {
		t.Errorf("FromContext(background) = %q, want empty", got)
	}
	ctx := NewContext(context.Background(), "abc")
	type other struct{}
	ctx = context.WithValue(ctx, other{}, 1)
	if got := FromContext(ctx); got != "abc" {
		t.Errorf("FromContext = %q, want abc", got)
	}
	if ctx.Value(other{}) != 1 {
		t.Error("other values lost")
	}
}

func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = New()
	}
}

// TestIsContextKey: ContextKey is the context key, and no other value is,
// whatever its type or value.
func TestIsContextKey(t *testing.T) {
	if !IsContextKey(ContextKey) {
		t.Error("IsContextKey(ContextKey) = false")
	}
	type other struct{}
	for _, k := range []any{nil, other{}, "contextKey", 0, &struct{}{}, struct{}{}} {
		if IsContextKey(k) {
			t.Errorf("IsContextKey(%#v) = true", k)
		}
	}
}

// TestHex16 holds hex16 to strconv's lowercase hex, zero-padded, on the
// edges of every nibble and on random values.
func TestHex16(t *testing.T) {
	vals := []uint64{0, 1, 9, 10, 15, 16, 0x99999999_99999999, 0xaaaaaaaa_aaaaaaaa, 0xffffffff_ffffffff,
		0x0123456789abcdef, 0xfedcba9876543210, 1 << 63, 1<<32 - 1, 1 << 32}
	for i := 0; i < 16; i++ {
		for _, n := range []uint64{9, 10, 15} {
			vals = append(vals, n<<(4*i), ^(n << (4 * i)))
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		vals = append(vals, r.Uint64())
	}
	var b [16]byte
	for _, v := range vals {
		hex16(b[:], v)
		if want := fmt.Sprintf("%016x", v); string(b[:]) != want {
			t.Fatalf("hex16(%#x) = %q, want %q", v, b[:], want)
		}
	}
}

// Append appends an id as New makes one, after what dst holds, without an
// allocation when dst has room; two ids differ.
func TestAppend(t *testing.T) {
	var room [8 + Len]byte
	b := Append(append(room[:0], "prefix: "...))
	if len(b) != 8+Len || string(b[:8]) != "prefix: " || &b[0] != &room[0] {
		t.Fatalf("Append = %q", b)
	}
	id := string(b[8:])
	if !Valid(id) || strings.Trim(id, "0123456789abcdef") != "" {
		t.Fatalf("id %q: not %d lowercase hex digits", id, Len)
	}
	if allocs := testing.AllocsPerRun(100, func() { Append(room[:0]) }); allocs != 0 {
		t.Fatalf("%v allocations with room, want 0", allocs)
	}
	if New() == New() || string(Append(nil)) == id {
		t.Fatal("two ids are the same")
	}
}
