package middleware

import (
	"strings"
	"testing"
)

func TestCompressNegotiation(t *testing.T) {
	all, err := NewCompress(CompressSettings{})
	if err != nil {
		t.Fatal(err)
	}
	brGzip, err := NewCompress(CompressSettings{Algorithms: []string{"br", "gzip"}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		c    *Compress
		ae   []string // nil: no field
		want string   // "" for identity
	}{
		{"no field", all, nil, ""},
		{"empty field", all, []string{""}, ""},
		{"gzip", all, []string{"gzip"}, "gzip"},
		{"x-gzip is gzip", all, []string{"x-gzip"}, "gzip"},
		{"case does not matter", all, []string{"GZip"}, "gzip"},
		{"browser list: the route's order breaks the tie", all, []string{"gzip, deflate, br, zstd"}, "zstd"},
		{"browser list without zstd", all, []string{"gzip, deflate, br"}, "br"},
		{"route without zstd", brGzip, []string{"gzip, deflate, br, zstd"}, "br"},
		{"q-values win over the route's order", all, []string{"zstd;q=0.5, gzip"}, "gzip"},
		{"q=0 refuses", all, []string{"gzip;q=0"}, ""},
		{"q=0.001 accepts", all, []string{"br;q=0.001"}, "br"},
		{"q with three decimals", all, []string{"br;q=0.501, gzip;q=0.5"}, "br"},
		{"star accepts the route's first", all, []string{"*"}, "zstd"},
		{"star;q=0 refuses", all, []string{"*;q=0"}, ""},
		{"star with a refused coding", all, []string{"zstd;q=0, *"}, "br"},
		{"star weight below a named one", all, []string{"gzip;q=0.5, *;q=0.9"}, "zstd"},
		{"named weight beats star", all, []string{"gzip, *;q=0.5"}, "gzip"},
		{"identity only", all, []string{"identity"}, ""},
		{"identity;q=0 and nothing else acceptable: identity still", all, []string{"identity;q=0, deflate"}, ""},
		{"unknown codings only", all, []string{"deflate, compress, exi"}, ""},
		{"several fields", all, []string{"gzip", "br"}, "br"},
		{"spaces and tabs", all, []string{" gzip ;\tq=0.8 ,br ; q=0.9 "}, "br"},
		{"Q upper case", all, []string{"gzip;Q=0.5, br;q=0.4"}, "gzip"},
		{"malformed q ignores the element", all, []string{"zstd;q=abc, gzip"}, "gzip"},
		{"q above 1 ignores the element", all, []string{"zstd;q=1.5, gzip;q=0.1"}, "gzip"},
		{"q with four decimals ignores the element", all, []string{"zstd;q=0.1234, gzip;q=0.1"}, "gzip"},
		{"q=1.000", all, []string{"zstd;q=1.000"}, "zstd"},
		{"other parameters ignored", all, []string{"gzip;level=9;q=0.2"}, "gzip"},
		{"empty elements", all, []string{",, ,gzip,,"}, "gzip"},
		{"a later duplicate wins", all, []string{"gzip;q=0, gzip"}, "gzip"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ""
			if c := tt.c.negotiate(tt.ae); c != noCoding {
				got = codingNames[c]
			}
			if got != tt.want {
				t.Errorf("Accept-Encoding %q: got %q, want %q", tt.ae, got, tt.want)
			}
		})
	}
}

// TestCompressNegotiationIsBounded: an Accept-Encoding of 10,000 tokens
// costs no allocation, and only its first elements count.
func TestCompressNegotiationIsBounded(t *testing.T) {
	c, err := NewCompress(CompressSettings{})
	if err != nil {
		t.Fatal(err)
	}
	long := []string{strings.Repeat("deflate;q=0.5, ", 10000) + "gzip"}
	if got := c.negotiate(long); got != noCoding {
		t.Errorf("a coding after %d elements was taken: %q", maxCodingElements, codingNames[got])
	}
	empties := []string{strings.Repeat(",", 60000) + "gzip"}
	if got := c.negotiate(empties); got != codingGzip {
		t.Errorf("empty elements counted: got %v", got)
	}
	if n := testing.AllocsPerRun(10, func() { c.negotiate(long) }); n != 0 {
		t.Errorf("negotiating allocates %v times", n)
	}
	if n := testing.AllocsPerRun(10, func() { c.negotiate([]string{"gzip, deflate, br, zstd"}) }); n != 0 {
		t.Errorf("negotiating allocates %v times", n)
	}
}

func TestCompressSettingsChecked(t *testing.T) {
	for _, s := range []CompressSettings{
		{Algorithms: []string{"deflate"}},
		{Algorithms: []string{"gzip", "gzip"}},
		{Level: "max"},
		{TypesExcluded: []string{"image"}},
		{TypesExcluded: []string{"*/*x"}},
		{TypesExcluded: []string{"image/ png"}},
	} {
		if _, err := NewCompress(s); err == nil {
			t.Errorf("%+v accepted", s)
		}
	}
	if _, err := NewCompress(CompressSettings{Algorithms: []string{"gzip"}, Level: "best", TypesExcluded: []string{"image/*", "Application/JSON"}}); err != nil {
		t.Error(err)
	}
}
