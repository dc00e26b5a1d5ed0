package budget

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestParseGRPCTimeout(t *testing.T) {
	const maxDuration = time.Duration(math.MaxInt64)
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"1H", time.Hour},
		{"2M", 2 * time.Minute},
		{"3S", 3 * time.Second},
		{"4m", 4 * time.Millisecond},
		{"5u", 5 * time.Microsecond},
		{"6n", 6 * time.Nanosecond},
		{"0n", 0},
		{"0H", 0},
		{"00000001S", time.Second},
		{"12345678m", 12345678 * time.Millisecond},
		{"99999999n", 99999999 * time.Nanosecond},
		{"99999999S", 99999999 * time.Second},
		{"2562047H", 2562047 * time.Hour}, // the most hours a Duration holds
		{"2562048H", maxDuration},
		{"99999999H", maxDuration},
		{"99999999M", 99999999 * time.Minute}, // fits: about 190 years
	}
	for _, tt := range tests {
		got, err := ParseGRPCTimeout(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseGRPCTimeout(%q) = %v, %v; want %v, nil", tt.in, got, err, tt.want)
		}
	}
}

func TestParseGRPCTimeoutInvalid(t *testing.T) {
	for _, in := range []string{
		"",           // empty
		"S",          // no digits
		"1",          // no unit
		"10",         // no unit, two digits
		"123456789S", // nine digits
		"000000001m", // nine digits, even with zeros
		"1s",         // bad unit
		"1h",         // bad unit: hours are upper case
		"1U",         // bad unit: micro is lower case
		"1ms",        // two-letter unit
		"-1S",        // sign
		"+1S",        // sign
		" 1S",        // leading space
		"1S ",        // trailing space
		"1 S",        // inner space
		"1.5S",       // decimal
		"0x1S",       // hex
		"1\x00S",     // NUL
		"١S",         // non-ASCII digit
		"1µ",         // non-ASCII unit
	} {
		if got, err := ParseGRPCTimeout(in); !errors.Is(err, ErrGRPCSyntax) || got != 0 {
			t.Errorf("ParseGRPCTimeout(%q) = %v, %v; want 0, ErrGRPCSyntax", in, got, err)
		}
	}
}

func TestAppendGRPCTimeout(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{-time.Second, "0n"},
		{0, "0n"},
		{1, "1n"},
		{99999999, "99999999n"},
		{100000000, "100000u"}, // 9 digits of ns: microseconds
		{100000001, "100000u"}, // rounded down
		{1500 * time.Millisecond, "1500000u"},
		{99999999 * time.Microsecond, "99999999u"},
		{100 * time.Second, "100000m"},
		{100*time.Second + 999*time.Microsecond, "100000m"},
		{99999999 * time.Millisecond, "99999999m"},
		{100000 * time.Second, "100000S"},
		{99999999 * time.Second, "99999999S"},
		{100000000 * time.Second, "1666666M"},
		{100000000*time.Second + 59*time.Second, "1666667M"},
		{99999999 * time.Minute, "99999999M"},
		{100000000 * time.Minute, "1666666H"},
		{time.Duration(math.MaxInt64), "2562047H"},
	}
	for _, tt := range tests {
		prefix := []byte("t=")
		got := AppendGRPCTimeout(prefix, tt.in)
		if string(got) != "t="+tt.want {
			t.Errorf("AppendGRPCTimeout(%v) = %q; want %q", tt.in, got[len(prefix):], tt.want)
		}
	}
}

// TestGRPCTimeoutRoundTrip checks that what AppendGRPCTimeout writes parses
// back to at most the duration it was given, and less by under one unit.
func TestGRPCTimeoutRoundTrip(t *testing.T) {
	var ds []time.Duration
	for d := time.Duration(1); d > 0 && d < time.Duration(math.MaxInt64)/7; d = d*7 + 3 {
		ds = append(ds, d-1, d, d+1)
	}
	for _, u := range []time.Duration{time.Nanosecond, time.Microsecond, time.Millisecond, time.Second, time.Minute} { // 1e8 hours overflow a Duration
		ds = append(ds, 99999999*u-1, 99999999*u, 99999999*u+1, 100000000*u-1, 100000000*u)
	}
	ds = append(ds, time.Duration(math.MaxInt64))
	for _, d := range ds {
		checkGRPCRoundTrip(t, d)
	}
}

func checkGRPCRoundTrip(t *testing.T, d time.Duration) {
	t.Helper()
	s := string(AppendGRPCTimeout(nil, d))
	got, err := ParseGRPCTimeout(s)
	if err != nil {
		t.Fatalf("ParseGRPCTimeout(AppendGRPCTimeout(%d) = %q): %v", d, s, err)
	}
	if d <= 0 {
		if got != 0 {
			t.Fatalf("%d encoded as %q, parsed as %d; want 0", d, s, got)
		}
		return
	}
	if got > d || d-got >= grpcUnit(s) {
		t.Fatalf("%d encoded as %q, parsed as %d; want within one unit below", d, s, got)
	}
}

// grpcUnit returns the unit of a well-formed grpc-timeout value.
func grpcUnit(s string) time.Duration {
	switch s[len(s)-1] {
	case 'H':
		return time.Hour
	case 'M':
		return time.Minute
	case 'S':
		return time.Second
	case 'm':
		return time.Millisecond
	case 'u':
		return time.Microsecond
	}
	return time.Nanosecond
}
