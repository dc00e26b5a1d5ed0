package middleware

// Accept-Encoding (RFC 9110, section 12.5.3) lists codings with optional
// weights: "gzip, br;q=0.8, *;q=0.1, identity;q=0". A coding the client
// names is acceptable when its weight is above 0; one it does not name is
// acceptable when "*" is, with the weight of "*". The coding with the
// highest weight wins, and the route's order breaks ties. No field, an
// empty one, or no acceptable coding: the answer goes uncompressed
// (identity), even when the client said "identity;q=0": refusing with 415
// would help no one, and RFC 9110 allows serving identity.
//
// The fields are read in one pass, without allocating, and only their first
// maxCodingElements elements count: a client sending thousands of tokens
// costs a bounded amount of work beyond reading the field, which the
// server's header limit bounds already.

// coding is a content coding the gateway can produce.
type coding uint8

const (
	codingZstd coding = iota
	codingBrotli
	codingGzip
	numCodings
)

// codingNames are the codings' tokens, by coding.
var codingNames = [numCodings]string{"zstd", "br", "gzip"}

// noCoding is negotiate's answer when nothing is acceptable.
const noCoding coding = numCodings

// maxCodingElements bounds the elements of Accept-Encoding read.
const maxCodingElements = 64

// negotiate returns the coding to answer with, of c.algs, for the
// Accept-Encoding field values vv, or noCoding.
func (c *Compress) negotiate(vv []string) coding {
	var q [numCodings]int // thousandths; -1: not named
	for i := range q {
		q[i] = -1
	}
	star := -1
	elements := 0
	for _, v := range vv {
		for len(v) > 0 && elements < maxCodingElements {
			var elem string
			if i := indexByte(v, ','); i >= 0 {
				elem, v = v[:i], v[i+1:]
			} else {
				elem, v = v, ""
			}
			name, weight, ok := parseCodingElement(elem)
			if name == "" {
				continue // empty list elements are allowed and do not count
			}
			elements++
			if !ok {
				continue
			}
			switch {
			case name == "*":
				star = weight
			case equalFoldASCII(name, "x-gzip"):
				q[codingGzip] = weight
			default:
				for k, n := range codingNames {
					if equalFoldASCII(name, n) {
						q[k] = weight
					}
				}
			}
		}
	}
	best, bestQ := noCoding, 0
	for _, alg := range c.algs {
		w := q[alg]
		if w < 0 {
			w = star
		}
		if w > bestQ {
			best, bestQ = alg, w
		}
	}
	return best
}

// parseCodingElement reads `coding *( OWS ";" OWS param )` and returns the
// coding and its weight in thousandths (1000 without q). ok is false when a
// q parameter is malformed: the element is then ignored.
func parseCodingElement(e string) (name string, q int, ok bool) {
	e = trimOWS(e)
	i := indexByte(e, ';')
	if i < 0 {
		return e, 1000, true
	}
	name, e = trimOWS(e[:i]), e[i+1:]
	q = 1000
	for {
		var p string
		if j := indexByte(e, ';'); j >= 0 {
			p, e = trimOWS(e[:j]), e[j+1:]
		} else {
			p, e = trimOWS(e), ""
		}
		if len(p) >= 2 && (p[0] == 'q' || p[0] == 'Q') {
			switch rest := trimOWS(p[1:]); {
			case p[1] == '=': // the weight
				v, good := parseQ(p[2:])
				if !good {
					return name, 0, false
				}
				q = v
			case len(rest) > 0 && rest[0] == '=':
				// OWS before "=" makes the weight malformed (RFC 9110
				// §5.6.6), not another parameter: "gzip;q =0" refuses
				// gzip, and taken at full weight it chose gzip.
				return name, 0, false
			}
		}
		if e == "" {
			return name, q, true
		}
	}
}

// parseQ reads a qvalue: "0" [ "." 0*3DIGIT ] or "1" [ "." 0*3("0") ].
func parseQ(s string) (int, bool) {
	if len(s) == 0 || len(s) > 5 || (s[0] != '0' && s[0] != '1') {
		return 0, false
	}
	v := int(s[0]-'0') * 1000
	if len(s) == 1 {
		return v, true
	}
	if s[1] != '.' {
		return 0, false
	}
	scale := 100
	for i := 2; i < len(s); i++ {
		d := s[i]
		if d < '0' || d > '9' {
			return 0, false
		}
		v += int(d-'0') * scale
		scale /= 10
	}
	if v > 1000 {
		return 0, false
	}
	return v, true
}

func trimOWS(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for len(s) > 0 && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t') {
		s = s[:len(s)-1]
	}
	return s
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// equalFoldASCII compares s with lower, a lower-case ASCII string, without
// regard to case.
func equalFoldASCII(s, lower string) bool {
	if len(s) != len(lower) {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[i] {
			return false
		}
	}
	return true
}
