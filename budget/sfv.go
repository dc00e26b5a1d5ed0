package budget

// sfParser is the part of an RFC 8941 structured-field parser that dictionaries
// need. It works on the string in place and allocates nothing. Values other than
// integers are checked for syntax and skipped.
type sfParser struct {
	s string
	i int
}

type itemKind uint8

const (
	kindBad itemKind = iota
	kindInt
	kindOther
)

func (p *sfParser) done() bool { return p.i >= len(p.s) }

func (p *sfParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *sfParser) skipSP() {
	for p.i < len(p.s) && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *sfParser) skipOWS() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func isLCAlpha(c byte) bool { return c >= 'a' && c <= 'z' }
func isDigit(c byte) bool   { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool   { return isLCAlpha(c) || (c >= 'A' && c <= 'Z') }

// key parses an sf key: ( lcalpha / "*" ) *( lcalpha / DIGIT / "_" / "-" / "." / "*" ).
func (p *sfParser) key() (string, bool) {
	start := p.i
	if c := p.peek(); !isLCAlpha(c) && c != '*' {
		return "", false
	}
	p.i++
	for p.i < len(p.s) {
		c := p.s[p.i]
		if !isLCAlpha(c) && !isDigit(c) && c != '_' && c != '-' && c != '.' && c != '*' {
			break
		}
		p.i++
	}
	return p.s[start:p.i], true
}

// params parses *( ";" *SP key [ "=" bare-item ] ).
func (p *sfParser) params() bool {
	for p.peek() == ';' {
		p.i++
		p.skipSP()
		if _, ok := p.key(); !ok {
			return false
		}
		if p.peek() == '=' {
			p.i++
			if _, kind := p.bareItem(); kind == kindBad {
				return false
			}
		}
	}
	return true
}

// innerList parses "(" *SP [ sf-item *( 1*SP sf-item ) *SP ] ")" parameters.
func (p *sfParser) innerList() bool {
	p.i++ // '('
	for {
		p.skipSP()
		if p.peek() == ')' {
			p.i++
			return p.params()
		}
		if _, kind := p.bareItem(); kind == kindBad || !p.params() {
			return false
		}
		if c := p.peek(); c != ' ' && c != ')' {
			return false
		}
	}
}

// bareItem parses an integer, decimal, string, token, byte sequence or boolean.
// Only integers return their value.
func (p *sfParser) bareItem() (int64, itemKind) {
	c := p.peek()
	switch {
	case c == '-' || isDigit(c):
		return p.number()
	case c == '"':
		return 0, p.str()
	case c == '*' || isAlpha(c):
		p.token()
		return 0, kindOther
	case c == ':':
		return 0, p.binary()
	case c == '?':
		if p.i+1 < len(p.s) && (p.s[p.i+1] == '0' || p.s[p.i+1] == '1') {
			p.i += 2
			return 0, kindOther
		}
	}
	return 0, kindBad
}

func (p *sfParser) number() (int64, itemKind) {
	neg := false
	if p.peek() == '-' {
		neg = true
		p.i++
	}
	var v int64
	digits := 0
	for p.i < len(p.s) && isDigit(p.s[p.i]) {
		if digits == 15 {
			return 0, kindBad
		}
		v = v*10 + int64(p.s[p.i]-'0')
		digits++
		p.i++
	}
	if digits == 0 {
		return 0, kindBad
	}
	if p.peek() == '.' { // a decimal: at most 12 integer and 3 fraction digits
		if digits > 12 {
			return 0, kindBad
		}
		p.i++
		frac := 0
		for p.i < len(p.s) && isDigit(p.s[p.i]) {
			frac++
			p.i++
		}
		if frac == 0 || frac > 3 {
			return 0, kindBad
		}
		return 0, kindOther
	}
	if neg {
		v = -v
	}
	return v, kindInt
}

func (p *sfParser) str() itemKind {
	p.i++ // opening quote
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '"':
			return kindOther
		case c == '\\':
			if p.i >= len(p.s) || (p.s[p.i] != '"' && p.s[p.i] != '\\') {
				return kindBad
			}
			p.i++
		case c < 0x20 || c > 0x7e:
			return kindBad
		}
	}
	return kindBad
}

func isTChar(c byte) bool {
	if isAlpha(c) || isDigit(c) {
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

func (p *sfParser) token() {
	p.i++
	for p.i < len(p.s) && (isTChar(p.s[p.i]) || p.s[p.i] == ':' || p.s[p.i] == '/') {
		p.i++
	}
}

// binary parses ":" *(base64) ":" and checks that the content could decode:
// "=" only at the end, at most two, and a length that base64 can have. As
// RFC 8941 asks, missing padding and non-zero pad bits are tolerated.
func (p *sfParser) binary() itemKind {
	p.i++ // opening colon
	start, pad := p.i, 0
	for p.i < len(p.s) {
		c := p.s[p.i]
		p.i++
		switch {
		case c == ':':
			data := p.i - 1 - start - pad
			if pad == 0 && data%4 != 1 || pad <= 2 && data%4 == 4-pad {
				return kindOther
			}
			return kindBad
		case c == '=':
			pad++
		case pad > 0: // data after padding
			return kindBad
		case !isAlpha(c) && !isDigit(c) && c != '+' && c != '/':
			return kindBad
		}
	}
	return kindBad
}
