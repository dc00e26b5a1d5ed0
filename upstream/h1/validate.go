package h1

import (
	"fmt"
	"net/http"
)

// validate rejects what http.Transport rejects before writing: a missing
// host, and a method or header field that is not well formed (field values
// may not hold control characters other than tab). Request.Write checks the
// Host field itself.
func validate(req *http.Request) error {
	if req.URL.Host == "" {
		return fmt.Errorf("h1: no Host in request URL")
	}
	if req.Method != "" && !isToken(req.Method) {
		return fmt.Errorf("h1: invalid method %q", req.Method)
	}
	for k, vv := range req.Header {
		if !isToken(k) {
			return fmt.Errorf("h1: invalid header field name %q", k)
		}
		for _, v := range vv {
			if !validValue(v) {
				return fmt.Errorf("h1: invalid header field value for %q", k)
			}
		}
	}
	return nil
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

// validValue reports whether v has no control character but tab.
func validValue(v string) bool {
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
