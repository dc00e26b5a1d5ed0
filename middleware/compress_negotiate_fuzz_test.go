package middleware

import (
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// refQValue is RFC 9110 §12.4.2's qvalue: "0" [ "." 0*3DIGIT ] or
// "1" [ "." 0*3("0") ].
var refQValue = regexp.MustCompile(`^(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)$`)

func refLowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

// refNegotiate is RFC 9110 §12.5.3 written plainly: the coding of algs
// (the route's order) with the highest weight above 0, a coding not named
// taking the weight of "*" (if named), names compared without regard to
// ASCII case, "x-gzip" the same as "gzip" (§8.4.1.3), OWS around elements
// and ";". Where negotiate deliberately differs, the reference does too,
// as its comments say:
//   - no field, an empty field, or nothing acceptable: identity, even when
//     "identity;q=0" or "*;q=0" refuses it (the RFC would allow 415);
//   - parameters other than q are ignored (the RFC's grammar has none),
//     and so is one without "=" ("gzip;q": no weight was written);
//   - an element whose q parameter is malformed is ignored (the RFC leaves
//     an invalid field to the recipient); the name of a q parameter is
//     compared without regard to case (ABNF literals are), and OWS inside
//     it ("q =0", "q= 0") makes it malformed, since "=" takes none (§5.6.6);
//   - a coding named twice takes its last weight (the RFC does not say);
//   - only the first maxCodingElements elements with a coding name count,
//     malformed or not, so that a client's cost is bounded.
func refNegotiate(algs []coding, fields []string) coding {
	weight := map[string]int{} // lower-case coding → thousandths
	elements := 0
	for _, field := range fields {
		for _, e := range strings.Split(field, ",") {
			parts := strings.Split(e, ";")
			name := refLowerASCII(strings.Trim(parts[0], " \t"))
			if name == "" {
				continue
			}
			if elements++; elements > maxCodingElements {
				break
			}
			q, ok := 1000, true
			for _, p := range parts[1:] {
				p = strings.Trim(p, " \t")
				k, v, eq := strings.Cut(p, "=")
				if !eq || refLowerASCII(strings.Trim(k, " \t")) != "q" {
					continue // another parameter, or none ("gzip;q")
				}
				if len(k) != 1 || !refQValue.MatchString(v) {
					ok = false
					break
				}
				f, err := strconv.ParseFloat(v, 64)
				if err != nil {
					panic(err)
				}
				q = int(f*1000 + 0.5)
			}
			if !ok {
				continue
			}
			if name == "x-gzip" {
				name = "gzip"
			}
			weight[name] = q
		}
	}
	best, bestQ := noCoding, 0
	for _, alg := range algs {
		q, named := weight[codingNames[alg]]
		if !named {
			q, named = weight["*"]
		}
		if named && q > bestQ {
			best, bestQ = alg, q
		}
	}
	return best
}

// FuzzCompressNegotiate: for any Accept-Encoding field lines (ae split at
// '\n') and any of four routes' codings, negotiate never panics, picks what
// refNegotiate picks, and never picks a coding the route does not offer.
// Accept-Encoding is the client's to write and is read on every answer the
// gateway may compress: answering with a coding the client refused breaks
// it, and a parser that misreads a refusal ("gzip;q=0") as a preference
// is how that happens.
func FuzzCompressNegotiate(f *testing.F) {
	var routes []*Compress
	for _, algs := range [][]string{nil, {"br", "gzip"}, {"gzip"}, {"gzip", "zstd"}} {
		c, err := NewCompress(CompressSettings{Algorithms: algs})
		if err != nil {
			f.Fatal(err)
		}
		routes = append(routes, c)
	}
	for _, s := range []struct {
		route uint8
		ae    string
	}{
		{0, ""},
		{0, "gzip"},
		{0, "x-gzip, GZip;Q=0.5"},
		{0, "gzip, deflate, br, zstd"},
		{1, "gzip, deflate, br, zstd"},
		{0, "zstd;q=0.5, gzip"},
		{0, "gzip;q=0, *"},
		{0, "*;q=0, identity"},
		{0, "identity;q=0, deflate"},
		{0, "br;q=0.501, gzip;q=0.5\n*;q=0.1"},
		{0, " gzip ;\tq=0.8 ,br ; q=0.9 "},
		{0, "zstd;q=abc, gzip;q=1.000, br;q=0.1234"},
		{0, "gzip;level=9;q=0.2, br;q"},
		{0, "gzip;q=0, br;q= 0.5"},
		{0, "gzip;q =0, br;q\t=0.5, zstd;Q=0"},
		{2, ",, ,gzip,,\n\n"},
		{3, "gzip;q=0, gzip, zstd;q=1.5"},
		{0, strings.Repeat("deflate;q=0.5, ", 70) + "gzip"},
	} {
		f.Add(s.route, s.ae)
	}
	f.Fuzz(func(t *testing.T, route uint8, ae string) {
		c := routes[int(route)%len(routes)]
		var fields []string
		if ae != "" {
			fields = strings.Split(ae, "\n")
		}
		got := c.negotiate(fields)
		if want := refNegotiate(c.algs, fields); got != want {
			t.Fatalf("Accept-Encoding %q, codings %v: negotiate %s, reference %s", fields, c.algs, codingName(got), codingName(want))
		}
		if got != noCoding && !slices.Contains(c.algs, got) {
			t.Fatalf("negotiate picked %s, not offered", codingName(got))
		}
	})
}

func codingName(c coding) string {
	if c == noCoding {
		return "identity"
	}
	return codingNames[c]
}

// TestCompressNegotiationSpaceBeforeEquals: "q =0" is a malformed weight,
// and its element is ignored like any other with a malformed q; it was
// taken for an unknown parameter, leaving the coding at full weight, so
// that a client refusing gzip got gzip.
func TestCompressNegotiationSpaceBeforeEquals(t *testing.T) {
	c, err := NewCompress(CompressSettings{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ae := range []string{"gzip;q =0", "gzip;q\t=0", "gzip ; Q  =0", "gzip;q =0.5, br;q=0.1"} {
		if got := c.negotiate([]string{ae}); got == codingGzip {
			t.Errorf("Accept-Encoding %q: gzip", ae)
		}
	}
}
