package router

import (
	"net/http"
	"strconv"

	"github.com/go-chi/chi/v5"
)

// Max-Forwards (RFC 9110, section 7.6.2) limits how many times an OPTIONS
// or a TRACE request is forwarded, so that a client can ask a chain of
// intermediaries about each in turn: each MUST count it down before it
// forwards, and the one that receives 0 answers as the final recipient.
// The gateway refuses TRACE (405: dispatch.go's anyMethods); an OPTIONS
// request with Max-Forwards 0 it answers itself, 200 with the methods the
// path allows in Allow and no body, and reaches no backend; one with a
// greater count is forwarded with the count one less. A value that is not
// a single count (two fields, a sign, text) is forwarded as it came, as
// before: the RFC defines no count for it, and a backend that reads it
// reads it as sent.

// maxForwards wraps an OPTIONS route's handler (next), on mux.
func maxForwards(mux *chi.Mux, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodOptions { // a "*" route's other methods: no lookup
			next.ServeHTTP(w, r)
			return
		}
		v := r.Header["Max-Forwards"]
		if len(v) != 1 {
			next.ServeHTTP(w, r)
			return
		}
		n, ok := forwardCount(v[0])
		switch {
		case !ok:
		case n == 0:
			w.Header().Set("Allow", allowed(mux, r))
			w.Header().Set("Content-Length", "0")
			w.WriteHeader(http.StatusOK)
			return
		default:
			r.Header["Max-Forwards"] = []string{strconv.FormatUint(n-1, 10)}
		}
		next.ServeHTTP(w, r)
	})
}

// forwardCount parses a Max-Forwards value, 1*DIGIT: false for anything
// else, or a count past uint64 (which no chain of intermediaries reaches:
// such a value is forwarded as it came).
func forwardCount(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(s, 10, 64)
	return n, err == nil
}
