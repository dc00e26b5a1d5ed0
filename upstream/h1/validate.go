package h1

import (
	"fmt"
	"net/http"
	"strings"
)

// inspect reports whether req goes to Fallback (the requests the package
// doc lists), and the error of its validation: one pass over its header
// for both, where a check of each field name that sends a request to
// Fallback cost a map lookup of its own on every request. A request that
// goes to Fallback is sent there whatever the error, as it was before the
// two were one pass: Fallback answers it with its own response and error.
//
// Validation rejects what http.Transport rejects before writing: a missing
// host, and a method or header field that is not well formed (field values
// may not hold control characters other than tab). Request.Write checks the
// Host field itself.
//
// It also rejects, where http.Transport does not, a field whose name is
// Host, Content-Length, Transfer-Encoding or Trailer in a case other than
// the canonical one (Header.Set would have made it canonical): the writers
// leave out or write those fields themselves under their canonical names,
// and would send such a field beside theirs, a second Host or a length the
// body does not have, which the node would read its own way: a bodiless
// GET with "content-length: 5" would make the node take the next request's
// first 5 bytes on the pooled connection as this one's body.
func inspect(req *http.Request) (fallback bool, err error) {
	fallback = req.URL.Scheme != "http" || req.Method == "CONNECT" || len(req.Trailer) > 0
	if req.URL.Host == "" {
		err = fmt.Errorf("h1: no Host in request URL")
	} else if req.Method != "" && !isToken(req.Method) {
		err = fmt.Errorf("h1: invalid method %q", req.Method)
	}
	for k, vv := range req.Header {
		switch k {
		case "Upgrade":
			fallback = fallback || len(vv) > 0
		case "Connection":
			fallback = fallback || hasToken(vv, "upgrade")
		case "Expect":
			fallback = fallback || hasToken(vv, "100-continue")
		}
		if err == nil {
			err = checkField(k, vv)
		}
	}
	return fallback, err
}

// checkField is inspect's validation of one field.
func checkField(k string, vv []string) error {
	if !isToken(k) {
		return fmt.Errorf("h1: invalid header field name %q", k)
	}
	if framedByWriter(k) {
		return fmt.Errorf("h1: header field name %q is %q in another case: the request would carry both", k, http.CanonicalHeaderKey(k))
	}
	for _, v := range vv {
		if !validValue(v) {
			return fmt.Errorf("h1: invalid header field value for %q", k)
		}
	}
	return nil
}

// framedByWriter reports whether k is, in a case other than the canonical
// one, the name of a field the request writers handle themselves. Only the
// names as long as one are compared.
func framedByWriter(k string) bool {
	var name string
	switch len(k) {
	case len("Host"):
		name = "Host"
	case len("Content-Length"):
		name = "Content-Length"
	case len("Transfer-Encoding"):
		name = "Transfer-Encoding"
	case len("Trailer"):
		name = "Trailer"
	default:
		return false
	}
	return k != name && strings.EqualFold(k, name)
}

// isToken reports whether s is an RFC 9110 token.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tchar[s[i]] {
			return false
		}
	}
	return true
}

// validValue reports whether v has no control character but tab. Every
// field of every request forwarded is checked, so it tests eight bytes at a
// time, and looks at them one by one only when the test flags them: for a
// control character, a tab or a false alarm. validValueBytewise is its
// definition.
func validValue(v string) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(v); i += 8 {
		x := uint64(v[i]) | uint64(v[i+1])<<8 | uint64(v[i+2])<<16 | uint64(v[i+3])<<24 |
			uint64(v[i+4])<<32 | uint64(v[i+5])<<40 | uint64(v[i+6])<<48 | uint64(v[i+7])<<56
		// A byte below 0x20, or one equal to 0x7f, sets its high bit in one
		// of the two words (Bit Twiddling Hacks' hasless and haszero): never
		// missed, sometimes set for a byte that is neither.
		del := x ^ 0x7f*ones
		if ((x-0x20*ones)&^x|(del-ones)&^del)&highs != 0 && !validValueBytewise(v[i:i+8]) {
			return false
		}
	}
	return validValueBytewise(v[i:])
}

// validValueBytewise is validValue, a byte at a time.
func validValueBytewise(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}

var tchar = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
		t[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()
