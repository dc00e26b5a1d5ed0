package router

import (
	"net/http"
	"strings"
)

// A backend's trailers, fields sent after a chunked body, reach the client
// as net/http lets a handler send them: the names the backend declared in
// its Trailer field are declared again before the header goes out (Trailer
// is hop-by-hop, so copyHeader leaves it), and their values, known only once
// the body was read to its end, are set in the header map after the body.
// A trailer the backend sent without declaring it is set under
// http.TrailerPrefix, which both listener servers send as a trailer too.
// A body that carries trailers is a chunked one, which isStream flushes from
// its header on, so the client's framing is chunked too and has room for
// them.

// announceTrailers declares in dst the trailer names in trailer (the
// response's Trailer map, whose keys the parser filled from the backend's
// Trailer field) and returns how many it declared.
func announceTrailers(dst http.Header, trailer http.Header) int {
	if len(trailer) == 0 {
		return 0
	}
	names := make([]string, 0, len(trailer))
	for k := range trailer {
		names = append(names, k)
	}
	dst["Trailer"] = []string{strings.Join(names, ", ")}
	return len(names)
}

// copyTrailers sets in dst the trailers read after the body: as declared
// names when they are exactly the declared ones, else each under
// http.TrailerPrefix, which covers the declared ones as well.
func copyTrailers(dst http.Header, trailer http.Header, declared int) {
	if len(trailer) == 0 {
		return
	}
	if len(trailer) == declared {
		for k, vv := range trailer {
			dst[k] = vv
		}
		return
	}
	for k, vv := range trailer {
		dst[http.TrailerPrefix+k] = vv
	}
}
