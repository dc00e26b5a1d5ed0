package h1

import (
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// TestValidValueEveryByte puts each byte value at each place of values of
// lengths around the eight-byte steps, in a value otherwise valid, and
// checks validValue against the byte-at-a-time rule and net/http's
// (httpguts.ValidHeaderFieldValue, which Transport applies).
func TestValidValueEveryByte(t *testing.T) {
	for n := 1; n <= 25; n++ {
		for pos := 0; pos < n; pos++ {
			for b := 0; b < 256; b++ {
				buf := []byte(strings.Repeat("a", n))
				buf[pos] = byte(b)
				v := string(buf)
				want := validValueBytewise(v)
				if got := validValue(v); got != want {
					t.Fatalf("validValue(%q) = %v, want %v", v, got, want)
				}
				if want != httpguts.ValidHeaderFieldValue(v) {
					t.Fatalf("validValueBytewise(%q) = %v, httpguts says otherwise", v, want)
				}
			}
		}
	}
}

// FuzzValidValue: validValue agrees with the byte-at-a-time rule on any
// value.
func FuzzValidValue(f *testing.F) {
	for _, s := range []string{"", "text/html; q=0.9", "a\tb", "\x7f", "abcdefg\x00", "\x80\xff\x20\x1f", "1.2.3.4, 5.6.7.8\r\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		if got, want := validValue(v), validValueBytewise(v); got != want {
			t.Fatalf("validValue(%q) = %v, want %v", v, got, want)
		}
	})
}

// BenchmarkValidValue: the eight-byte check against the byte-at-a-time
// one, on a value as long as a budget field.
func BenchmarkValidValue(b *testing.B) {
	v := "f47ac10b58cc4372a5670e02b2c3d479; ms=4998; hop=1"
	for _, c := range []struct {
		name  string
		check func(string) bool
	}{{"words", validValue}, {"bytes", validValueBytewise}} {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				if !c.check(v) {
					b.Fatal("invalid")
				}
			}
		})
	}
}
