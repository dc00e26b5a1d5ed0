package budget

import (
	"strings"
	"testing"
	"time"
)

// parseErrors are the errors Parse and ParseFields may return.
var parseErrors = []error{ErrSyntax, ErrTooLong, ErrMissingMs, ErrOutOfRange, ErrNotInteger, ErrNotAddress}

func isParseError(err error) bool {
	for _, e := range parseErrors {
		if err == e {
			return true
		}
	}
	return false
}

var parseSeeds = []string{
	"",
	"ms=1473, hop=2, retry=1",
	"retry=1,hop=2,ms=1473",
	"ms=5 ,\thop=1\t,  retry=2  ",
	"ms=0",
	"ms=-0",
	"ms=999999999, hop=255, retry=255",
	"ms=1000000000",
	"ms=5;x=1;y;z=?0",
	`ms=5, s="a \"q\" \\"`,
	"ms=5, t=foo/bar:baz, d=-1.125, b=:AQID:, f=?1, k",
	`ms=5, l=(1 2 "a" tok :AA==: ?0 1.5);p=1, e=()`,
	"ms=5, ms=6, ms=x",
	"ms=x, ms=6",  // once refused: only the last ms counts
	"ms=5, b=:0:", // once accepted: no base64 has that length
	"ms=5, b=:aGVsbG8:, c=:iZ==:",
	"hop=1",
	"ms=1.5",
	"ms=1234567890123456",
	"ms=5,",
	"MS=5",
	`ms=5, s="\n"`,
	"ms=5, l=(1",
	"mś=5",
	"\x00\xff",
	"ms=5, x=\"" + strings.Repeat("a", MaxHeaderLen) + `"`,
	`ms=5, hop=1, caller="203.0.113.7"`,
	`ms=5, caller="2001:db8::", caller="::ffff:1.2.3.4"`,
	`ms=5, caller="fe80::1%eth0"`,
	`ms=5, caller="1.2.3.4\\"`,
}

// FuzzParse checks that Parse never panics, fails only with its sentinel
// errors, and that whatever it accepts survives Append and Parse unchanged.
func FuzzParse(f *testing.F) {
	for _, s := range parseSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		h, err := Parse(s)
		if err != nil {
			if !isParseError(err) {
				t.Fatalf("Parse(%q) error %v is not a sentinel", s, err)
			}
			if h != (Header{}) {
				t.Fatalf("Parse(%q) = %+v with error %v; want zero Header", s, h, err)
			}
			if len(s) > MaxHeaderLen && err != ErrTooLong {
				t.Fatalf("Parse of %d bytes = %v; want ErrTooLong", len(s), err)
			}
		} else {
			if h.Remaining < 0 || h.Remaining > MaxMillis*time.Millisecond || h.Remaining%time.Millisecond != 0 ||
				h.Hop < 0 || h.Hop > MaxHops || h.Retries < 0 || h.Retries > MaxRetries {
				t.Fatalf("Parse(%q) = %+v: out of bounds", s, h)
			}
			wire := h.String()
			h2, err := Parse(wire)
			if err != nil || h2 != h {
				t.Fatalf("Parse(%q) = %+v; Parse(%q) = %+v, %v", s, h, wire, h2, err)
			}
		}
		h3, err3 := ParseFields([]string{s})
		if h3 != h || err3 != err {
			t.Fatalf("Parse(%q) = %+v, %v but ParseFields = %+v, %v", s, h, err, h3, err3)
		}
	})
}

// FuzzParseFields checks that a field on two lines reads as the same field
// joined by ", ", as HTTP defines it, for lines as an HTTP parser leaves them:
// not empty, no whitespace at either end. ParseFields wants each line to be a
// dictionary of its own, so it is stricter in one way only: a string member
// may not run from one line into the next.
func FuzzParseFields(f *testing.F) {
	f.Add("ms=5", "hop=1")
	f.Add("hop=1, ms=x", "ms=3;a=(1 2)")
	f.Add("ms=5,", "hop=1")
	f.Add("ms=5", strings.Repeat("a", MaxHeaderLen-len("ms=5, ")))
	f.Add("ms=5, s=\"a", "b\"")
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, line := range []string{a, b} {
			if line == "" || strings.Trim(line, " \t") != line {
				t.Skip()
			}
		}
		h, err := ParseFields([]string{a, b})
		if err != nil && !isParseError(err) {
			t.Fatalf("ParseFields error %v is not a sentinel", err)
		}
		joined := a + ", " + b
		hj, errj := Parse(joined)
		if err == nil && (errj != nil || h != hj) || errj == nil && err != nil && !strings.Contains(joined, `"`) {
			t.Fatalf("ParseFields(%q, %q) = %+v, %v; Parse(%q) = %+v, %v", a, b, h, err, joined, hj, errj)
		}
	})
}

// FuzzParseGRPCTimeout checks that ParseGRPCTimeout never panics, fails only
// with ErrGRPCSyntax, and that what it accepts re-encodes to no more time.
func FuzzParseGRPCTimeout(f *testing.F) {
	for _, s := range []string{"1H", "2M", "3S", "4m", "5u", "6n", "0n", "99999999H", "2562048H",
		"99999999n", "123456789S", "S", "", "-1S", "+1S", " 1S", "1s", "1.5S", "1µ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseGRPCTimeout(s)
		if err != nil {
			if err != ErrGRPCSyntax || d != 0 {
				t.Fatalf("ParseGRPCTimeout(%q) = %v, %v; want 0, ErrGRPCSyntax", s, d, err)
			}
			return
		}
		if d < 0 {
			t.Fatalf("ParseGRPCTimeout(%q) = %v: negative", s, d)
		}
		wire := string(AppendGRPCTimeout(nil, d))
		d2, err := ParseGRPCTimeout(wire)
		if err != nil || d2 > d {
			t.Fatalf("ParseGRPCTimeout(%q) = %v; re-encoded %q parses as %v, %v", s, d, wire, d2, err)
		}
		checkGRPCRoundTrip(t, d)
	})
}

// FuzzAppendGRPCTimeout checks the round trip from any duration.
func FuzzAppendGRPCTimeout(f *testing.F) {
	for _, d := range []int64{-1, 0, 1, 99999999, 100000000, 1 << 62, 1<<63 - 1} {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, d int64) {
		checkGRPCRoundTrip(t, time.Duration(d))
	})
}
