// Package fieldname classifies the bytes of an HTTP field name, for the
// parsers that read a head a byte at a time (package server's request
// reader, upstream/h1's response reader): one table lookup a byte tells
// whether the byte belongs to a name (an RFC 9110 token) and whether the
// name is still in the canonical form http.CanonicalHeaderKey writes, where
// each byte took a token test and two range tests. A parser that finds a
// name canonical uses its bytes as they are, and canonicalizes only the
// others.
package fieldname

// The bits of a byte's class: whether it is a token's byte, a lower-case
// or an upper-case letter; the top four bits of a class hold the bit of the
// letters that are off case after the byte: lower case after a hyphen (the
// next letter begins a word), upper case after anything else.
const (
	Token = 1 << iota
	Lower
	Upper
)

// Start is the class bits of the letters that are off case at a name's
// start: lower case, as after a hyphen.
const Start = Lower

// Scan reads the name that starts at buf[i]: it returns the index of the
// first byte from i on that is not a token's (or len(buf)), and whether the
// bytes before it are in canonical form. buf is a head being read, or a
// name already in a string (a header map's key, which a writer checks).
func Scan[B []byte | string](buf B, i int) (end int, canonical bool) {
	canonical = true
	off := uint8(Start)
	for ; i < len(buf); i++ {
		cl := Class[buf[i]]
		if cl&Token == 0 {
			break
		}
		if cl&off != 0 {
			canonical = false
		}
		off = cl >> 4
	}
	return i, canonical
}

// Class is the class of every byte. A reader of a name keeps the off-case
// bits of the byte before, starting with Start, as Scan does.
var Class = func() (t [256]uint8) {
	for c := range 256 {
		var cl uint8
		if token(byte(c)) {
			cl = Token
		}
		switch {
		case 'a' <= c && c <= 'z':
			cl |= Lower
		case 'A' <= c && c <= 'Z':
			cl |= Upper
		}
		if c == '-' {
			cl |= Lower << 4
		} else {
			cl |= Upper << 4
		}
		t[c] = cl
	}
	return t
}()

// token reports whether c may be in an RFC 9110 token (tchar).
func token(c byte) bool {
	switch {
	case '0' <= c && c <= '9', 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}
