package fieldname

import (
	"net/http"
	"testing"

	"golang.org/x/net/http/httpguts"
)

// canonical reports, with Scan, whether name is all token bytes and in
// the form http.CanonicalHeaderKey writes; the name is read from the middle
// of a buffer, ended by a colon.
func canonical(name string) (tokens, canon bool) {
	buf := []byte("x:" + name + ":")
	end, canon := Scan(buf, 2)
	return end == len(buf)-1, canon
}

// TestClass holds the table to net/http: its token bytes are httpguts's,
// and a name of them is canonical exactly when http.CanonicalHeaderKey
// leaves it as it is, for every name of up to three bytes from an alphabet
// of a letter in both cases, a hyphen, a digit and another token byte.
func TestClass(t *testing.T) {
	for c := range 256 {
		if got, want := Class[c]&Token != 0, httpguts.IsTokenRune(rune(c)); got != want {
			t.Errorf("byte %#x: token %v, want %v", c, got, want)
		}
	}
	alphabet := []byte("aA-1_")
	var names []string
	for _, a := range alphabet {
		names = append(names, string(a))
		for _, b := range alphabet {
			names = append(names, string([]byte{a, b}))
			for _, c := range alphabet {
				names = append(names, string([]byte{a, b, c}))
			}
		}
	}
	names = append(names, "Content-Type", "content-type", "Content-type", "X-Request-Id", "X-REQUEST-ID", "Www-Authenticate", "WWW-Authenticate")
	for _, n := range names {
		tokens, canon := canonical(n)
		if !tokens {
			t.Errorf("%q: not all token bytes", n)
		}
		if want := http.CanonicalHeaderKey(n) == n; canon != want {
			t.Errorf("%q: canonical %v, want %v", n, canon, want)
		}
	}
}
