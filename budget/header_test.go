package budget

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

const ms = time.Millisecond

func TestParseValid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Header
	}{
		{"ms only", "ms=1473", Header{Remaining: 1473 * ms}},
		{"all members", "ms=1473, hop=2, retry=1", Header{Remaining: 1473 * ms, Hop: 2, Retries: 1}},
		{"member order", "retry=1, hop=2, ms=1473", Header{Remaining: 1473 * ms, Hop: 2, Retries: 1}},
		{"no space after comma", "ms=5,hop=1", Header{Remaining: 5 * ms, Hop: 1}},
		{"OWS around commas", "ms=5 ,  hop=1\t,\tretry=2", Header{Remaining: 5 * ms, Hop: 1, Retries: 2}},
		{"leading spaces", "   ms=5", Header{Remaining: 5 * ms}},
		{"trailing spaces", "ms=5  ", Header{Remaining: 5 * ms}},
		{"zero", "ms=0", Header{}},
		{"leading zeros", "ms=007", Header{Remaining: 7 * ms}},
		{"minus zero is zero", "ms=-0", Header{}},
		{"maximum", "ms=999999999, hop=255, retry=255", Header{Remaining: MaxMillis * ms, Hop: MaxHops, Retries: MaxRetries}},
		{"parameter", "ms=5;x=1", Header{Remaining: 5 * ms}},
		{"parameters of every type", `ms=5;a;b=?0;c="s";d=tok;e=:AQ==:;f=1.5;g=-2, hop=1`, Header{Remaining: 5 * ms, Hop: 1}},
		{"parameter after space", "ms=5; x=1", Header{Remaining: 5 * ms}},
		{"unknown string", `ms=5, note="hi \"there\" \\ back"`, Header{Remaining: 5 * ms}},
		{"unknown empty string", `x="", ms=5`, Header{Remaining: 5 * ms}},
		{"unknown token", "ms=5, t=foo/bar:baz*!#$%&'+-.^_`|~", Header{Remaining: 5 * ms}},
		{"unknown token star", "ms=5, t=*x", Header{Remaining: 5 * ms}},
		{"unknown decimal", "ms=5, d=-123456789012.123", Header{Remaining: 5 * ms}},
		{"unknown integer", "ms=5, n=-999999999999999", Header{Remaining: 5 * ms}},
		{"unknown byte sequence", "ms=5, b=:cHJldGVuZCB0aGlzIGlzIGJpbmFyeQ==:", Header{Remaining: 5 * ms}},
		{"unknown empty byte sequence", "ms=5, b=::", Header{Remaining: 5 * ms}},
		{"byte sequence without padding", "ms=5, b=:aGVsbG8:, c=:aGVsbA:", Header{Remaining: 5 * ms}},
		{"byte sequence with non-zero pad bits", "ms=5, b=:iZ==:", Header{Remaining: 5 * ms}},
		{"unknown boolean", "ms=5, t=?1, f=?0", Header{Remaining: 5 * ms}},
		{"unknown bare key", "ms=5, flag", Header{Remaining: 5 * ms}},
		{"unknown bare key with parameter", "flag;a=1, ms=5", Header{Remaining: 5 * ms}},
		{"unknown inner list", `ms=5, l=(1 2 "a");p`, Header{Remaining: 5 * ms}},
		{"unknown inner list spaced", `l=(  1;a=2   tok  ), ms=5`, Header{Remaining: 5 * ms}},
		{"unknown empty inner list", "l=(), ms=5", Header{Remaining: 5 * ms}},
		{"key characters", "a1_-.*=1, *k=2, ms=5", Header{Remaining: 5 * ms}},
		{"repeated member last wins", "ms=5, hop=1, ms=7, hop=3", Header{Remaining: 7 * ms, Hop: 3}},
		{"repeated member earlier invalid", "ms=abc, hop=999, ms=5, hop=1", Header{Remaining: 5 * ms, Hop: 1}},
		{"hop and retry absent", "ms=9", Header{Remaining: 9 * ms}},
		{"at MaxHeaderLen", "ms=5, x=\"" + strings.Repeat("a", MaxHeaderLen-len(`ms=5, x=""`)) + `"`, Header{Remaining: 5 * ms}},
		{"caller IPv4", `ms=5, hop=1, caller="203.0.113.7"`, Header{Remaining: 5 * ms, Hop: 1, Caller: netip.MustParseAddr("203.0.113.7")}},
		{"caller IPv6", `caller="2001:db8:1:2::", ms=5`, Header{Remaining: 5 * ms, Caller: netip.MustParseAddr("2001:db8:1:2::")}},
		{"caller IPv4 in IPv6", `ms=5, caller="::ffff:192.0.2.1"`, Header{Remaining: 5 * ms, Caller: netip.MustParseAddr("::ffff:192.0.2.1")}},
		{"caller with a parameter", `ms=5, caller="192.0.2.1";v=1`, Header{Remaining: 5 * ms, Caller: netip.MustParseAddr("192.0.2.1")}},
		{"caller last wins", `ms=5, caller=x, caller="192.0.2.1"`, Header{Remaining: 5 * ms, Caller: netip.MustParseAddr("192.0.2.1")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil || got != tt.want {
				t.Fatalf("Parse(%q) = %+v, %v; want %+v, nil", tt.in, got, err, tt.want)
			}
			got, err = ParseFields([]string{tt.in})
			if err != nil || got != tt.want {
				t.Fatalf("ParseFields(%q) = %+v, %v; want %+v, nil", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrMissingMs},
		{"spaces only", "   ", ErrMissingMs},
		{"missing ms", "hop=1, retry=2", ErrMissingMs},
		{"ms only as a parameter", "x=1;ms=5", ErrMissingMs},
		{"negative", "ms=-1", ErrNotInteger},
		{"negative hop", "ms=1, hop=-1", ErrNotInteger},
		{"decimal ms", "ms=1.5", ErrNotInteger},
		{"string ms", `ms="5"`, ErrNotInteger},
		{"token ms", "ms=five", ErrNotInteger},
		{"boolean ms", "ms=?1", ErrNotInteger},
		{"bare ms", "ms", ErrNotInteger},
		{"inner list ms", "ms=(5)", ErrNotInteger},
		{"byte sequence retry", "ms=5, retry=:AQ==:", ErrNotInteger},
		{"repeated member last invalid", "ms=5, ms=x", ErrNotInteger},
		{"ms above MaxMillis", "ms=1000000000", ErrOutOfRange},
		{"ms 15 digits", "ms=999999999999999", ErrOutOfRange},
		{"hop above 255", "ms=5, hop=256", ErrOutOfRange},
		{"retry above 255", "ms=5, retry=256", ErrOutOfRange},
		{"too long", "ms=5, x=\"" + strings.Repeat("a", MaxHeaderLen) + `"`, ErrTooLong},
		{"one byte too long", "ms=5" + strings.Repeat(" ", MaxHeaderLen-3), ErrTooLong},
		{"uppercase key", "MS=5", ErrSyntax},
		{"uppercase later key", "ms=5, Hop=1", ErrSyntax},
		{"key starting with digit", "ms=5, 1a=2", ErrSyntax},
		{"trailing comma", "ms=5,", ErrSyntax},
		{"trailing comma and space", "ms=5, ", ErrSyntax},
		{"leading comma", ", ms=5", ErrSyntax},
		{"double comma", "ms=5,, hop=1", ErrSyntax},
		{"leading tab", "\tms=5", ErrSyntax},
		{"space before =", "ms =5", ErrSyntax},
		{"space after =", "ms= 5", ErrSyntax},
		{"space before parameter", "ms=5 ;x=1", ErrSyntax},
		{"missing value", "ms=", ErrSyntax},
		{"missing separator", "ms=5 hop=1", ErrSyntax},
		{"semicolon separator", "ms=5; hop=1;", ErrSyntax},
		{"bad string escape", `ms=5, s="a\n"`, ErrSyntax},
		{"escape at end", `ms=5, s="a\`, ErrSyntax},
		{"unterminated string", `ms=5, s="abc`, ErrSyntax},
		{"control in string", "ms=5, s=\"a\tb\"", ErrSyntax},
		{"16-digit integer", "ms=1234567890123456", ErrSyntax},
		{"16-digit unknown integer", "ms=5, x=1234567890123456", ErrSyntax},
		{"13-digit decimal", "ms=5, x=1234567890123.1", ErrSyntax},
		{"4 fraction digits", "ms=5, x=1.1234", ErrSyntax},
		{"decimal without fraction", "ms=5, x=1.", ErrSyntax},
		{"lone minus", "ms=-", ErrSyntax},
		{"plus sign", "ms=+5", ErrSyntax},
		{"digits then letters", "ms=5ms", ErrSyntax},
		{"bad boolean", "ms=5, b=?2", ErrSyntax},
		{"bad byte sequence", "ms=5, b=:a-b:", ErrSyntax},
		{"unterminated byte sequence", "ms=5, b=:AQ==", ErrSyntax},
		{"byte sequence of impossible length", "ms=5, b=:0:", ErrSyntax},
		{"byte sequence with too much padding", "ms=5, b=:aGVsbG8==:", ErrSyntax},
		{"byte sequence of padding only", "ms=5, b=:==:", ErrSyntax},
		{"byte sequence with three pads", "ms=5, b=:A===:", ErrSyntax},
		{"byte sequence with data after padding", "ms=5, b=:AQ==AQ==:", ErrSyntax},
		{"base64url byte sequence", "ms=5, b=:_-Ah:", ErrSyntax},
		{"unterminated inner list", "ms=5, l=(1 2", ErrSyntax},
		{"inner list without space", `ms=5, l=(1"a")`, ErrSyntax},
		{"bad parameter key", "ms=5;X=1", ErrSyntax},
		{"empty parameter value", "ms=5;x=", ErrSyntax},
		{"garbage bytes", "\x00\xff\x7f", ErrSyntax},
		{"garbage after member", "ms=5 @@", ErrSyntax},
		{"non-ASCII key", "mś=5", ErrSyntax},
		{"non-ASCII string", `ms=5, s="é"`, ErrSyntax},
		{"non-ASCII token", "ms=5, t=aé", ErrSyntax},
		{"syntax error beats range error", "ms=9999999999, x=@", ErrSyntax},
		{"caller not an address", `ms=5, caller="client-7"`, ErrNotAddress},
		{"caller a token", "ms=5, caller=192.0.2.1", ErrSyntax},
		{"caller a bare key", "ms=5, caller", ErrNotAddress},
		{"caller an integer", "ms=5, caller=7", ErrNotAddress},
		{"caller a byte sequence", "ms=5, caller=:wAACAQ==:", ErrNotAddress},
		{"caller empty", `ms=5, caller=""`, ErrNotAddress},
		{"caller with a zone", `ms=5, caller="fe80::1%eth0"`, ErrNotAddress},
		{"caller with an escape", `ms=5, caller="192.0.2.1\\"`, ErrNotAddress},
		{"caller with a prefix", `ms=5, caller="192.0.2.0/24"`, ErrNotAddress},
		{"caller with a port", `ms=5, caller="192.0.2.1:80"`, ErrNotAddress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in)
			if !errors.Is(err, tt.want) || got != (Header{}) {
				t.Fatalf("Parse(%q) = %+v, %v; want zero Header, %v", tt.in, got, err, tt.want)
			}
			if _, err := ParseFields([]string{tt.in}); !errors.Is(err, tt.want) {
				t.Fatalf("ParseFields(%q) error = %v; want %v", tt.in, err, tt.want)
			}
		})
	}
}

func TestParseFields(t *testing.T) {
	// long returns an unknown member of n bytes.
	long := func(n int) string { return "x=\"" + strings.Repeat("a", n-4) + `"` }
	tests := []struct {
		name    string
		in      []string
		want    Header
		wantErr error
	}{
		{"nil", nil, Header{}, ErrMissingMs},
		{"one line", []string{"ms=5, hop=1"}, Header{Remaining: 5 * ms, Hop: 1}, nil},
		{"members on several lines", []string{"ms=5", "hop=1", "retry=2"}, Header{Remaining: 5 * ms, Hop: 1, Retries: 2}, nil},
		{"last line wins", []string{"ms=5, hop=1", "ms=3"}, Header{Remaining: 3 * ms, Hop: 1}, nil},
		{"earlier invalid value overridden", []string{"ms=x", "ms=3"}, Header{Remaining: 3 * ms}, nil},
		{"empty line adds nothing", []string{"ms=5", ""}, Header{Remaining: 5 * ms}, nil},
		{"ms on no line", []string{"hop=1", "retry=1"}, Header{}, ErrMissingMs},
		{"syntax error on a later line", []string{"ms=5", "hop=1,"}, Header{}, ErrSyntax},
		{"value error on a later line", []string{"ms=5", "hop=300"}, Header{}, ErrOutOfRange},
		{"joined length exactly MaxHeaderLen", []string{"ms=5", long(MaxHeaderLen - len("ms=5, "))}, Header{Remaining: 5 * ms}, nil},
		{"joined length one over", []string{"ms=5", long(MaxHeaderLen - len("ms=5, ") + 1)}, Header{}, ErrTooLong},
		{"separators count", []string{long(128), long(127)}, Header{}, ErrTooLong},
		{"many empty lines", make([]string, MaxHeaderLen), Header{}, ErrTooLong},
		{"one line too long", []string{long(MaxHeaderLen + 1), "ms=5"}, Header{}, ErrTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseFields(tt.in)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("ParseFields(%q) = %+v, %v; want %+v, %v", tt.in, got, err, tt.want, tt.wantErr)
			}
			if tt.wantErr != nil {
				return
			}
			for _, line := range tt.in {
				if line == "" {
					return // an empty line is tolerated; joined, it would be an empty member
				}
			}
			joined := strings.Join(tt.in, ", ")
			if got, err := Parse(joined); err != nil || got != tt.want {
				t.Fatalf("Parse(%q) = %+v, %v; want the same as ParseFields", joined, got, err)
			}
		})
	}
}

func TestHeaderAppend(t *testing.T) {
	tests := []struct {
		name string
		h    Header
		want string
	}{
		{"zero", Header{}, "ms=0, hop=0"},
		{"whole ms", Header{Remaining: 1473 * ms, Hop: 2, Retries: 1}, "ms=1473, hop=2, retry=1"},
		{"1.9ms rounds down", Header{Remaining: 1900 * time.Microsecond, Hop: 1}, "ms=1, hop=1"},
		{"999us rounds down to 0", Header{Remaining: 999 * time.Microsecond}, "ms=0, hop=0"},
		{"1ns below a second", Header{Remaining: time.Second - 1}, "ms=999, hop=0"},
		{"negative clamps to 0", Header{Remaining: -5 * time.Second, Hop: -1, Retries: -1}, "ms=0, hop=0"},
		{"ms clamps to MaxMillis", Header{Remaining: 30 * 24 * time.Hour}, "ms=999999999, hop=0"},
		{"largest duration", Header{Remaining: 1<<63 - 1}, "ms=999999999, hop=0"},
		{"hop clamps", Header{Remaining: ms, Hop: 1000}, "ms=1, hop=255"},
		{"retry clamps", Header{Remaining: ms, Hop: 1, Retries: 1000}, "ms=1, hop=1, retry=255"},
		{"retry omitted when 0", Header{Remaining: ms, Hop: 3, Retries: 0}, "ms=1, hop=3"},
		{"caller IPv4", Header{Remaining: ms, Hop: 1, Caller: netip.MustParseAddr("203.0.113.7")}, `ms=1, hop=1, caller="203.0.113.7"`},
		{"caller IPv6 after retry", Header{Remaining: ms, Hop: 2, Retries: 1, Caller: netip.MustParseAddr("2001:db8:1:2::")}, `ms=1, hop=2, retry=1, caller="2001:db8:1:2::"`},
		{"caller's zone left out", Header{Remaining: ms, Caller: netip.MustParseAddr("fe80::1%eth0")}, `ms=1, hop=0, caller="fe80::1"`},
		{"longest", Header{Remaining: 30 * 24 * time.Hour, Hop: MaxHops, Retries: MaxRetries, Caller: netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")},
			`ms=999999999, hop=255, retry=255, caller="ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.h.String(); got != tt.want {
				t.Errorf("String() = %q; want %q", got, tt.want)
			}
			prefix := []byte("Sluice-Budget: ")
			if got := string(tt.h.Append(prefix)); got != string(prefix)+tt.want {
				t.Errorf("Append(prefix) = %q; want %q", got, string(prefix)+tt.want)
			}
			// What Append writes always parses.
			if _, err := Parse(tt.want); err != nil {
				t.Errorf("Parse(%q) = %v", tt.want, err)
			}
		})
	}
}

// TestHeaderNamesCanonical: Requested and Inbound index a request's header
// by these names, which finds a field only under its canonical name, where
// net/http's and package server's parsers put it.
func TestHeaderNamesCanonical(t *testing.T) {
	for _, name := range []string{HeaderName, GRPCHeaderName} {
		if c := http.CanonicalHeaderKey(name); c != name {
			t.Errorf("%q is not canonical (%q)", name, c)
		}
	}
	h := http.Header{}
	h.Set("grpc-timeout", "5S")
	h.Set("sluice-budget", "ms=3000")
	if d, ok, err := Requested(h); err != nil || !ok || d != 3*time.Second {
		t.Errorf("Requested = %v, %v, %v; want 3s, true, nil", d, ok, err)
	}
}
