package router

import (
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
)

// A backend's 103 Early Hints answer lets a browser fetch what a page will
// need (its Link fields) while the backend is still computing the page. The
// gateway passes 103 on to the client, before the final answer, for
// requests that a browser acts on: navigations (Sec-Fetch-Mode: navigate,
// or an Accept field that names text/html), which are the only requests for
// which browsers use Early Hints. Other requests, API calls above all, do
// not ask the transport for informational answers at all, so they pay
// nothing for this. Other 1xx answers are not passed on: "100 Continue" is
// the listener server's to send to its client (on the first read of the
// request's body), and 101 is a final answer.
//
// Informational answers may come from any attempt of the call, a losing
// hedge's included, and from another goroutine than the handler's: hints
// writes them under a lock, and none once the final answer is being
// written.

// hints passes a backend's 103 answers on to w until closed.
type hints struct {
	mu     sync.Mutex
	w      http.ResponseWriter
	closed bool
}

// wantsHints reports whether r is a navigation, for which 103 is passed on.
// An HTTP/1.0 client gets no 1xx answer (RFC 9110, section 15.2): it would
// take the 103 for the final answer. The lean server drops one itself;
// net/http's writes it.
func wantsHints(r *http.Request) bool {
	if !r.ProtoAtLeast(1, 1) {
		return false
	}
	if len(r.Header["Sec-Fetch-Mode"]) > 0 {
		return r.Header["Sec-Fetch-Mode"][0] == "navigate"
	}
	for _, v := range r.Header["Accept"] {
		if strings.Contains(v, "text/html") {
			return true
		}
	}
	return false
}

// trace returns the client trace that hands h the backend's 1xx answers.
func (h *hints) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{Got1xxResponse: h.got}
}

// got writes a 103 answer's fields to the client, less those for the
// backend's hop alone, as the final answer's are (copyHeader); other codes
// are dropped.
func (h *hints) got(code int, header textproto.MIMEHeader) error {
	if code != http.StatusEarlyHints {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	dst := h.w.Header()
	var added []string
	var buf [4]string
	named := connectionNamed(buf[:0], http.Header(header))
	for k, vv := range header {
		if !crosses(k, named) || k == "Content-Length" {
			continue // the backend's hop only; no 1xx has a length (RFC 9110, 8.6)
		}
		if _, had := dst[k]; had {
			continue // a field of the final answer's, set by a middleware
		}
		dst[k] = vv
		added = append(added, k)
	}
	h.w.WriteHeader(http.StatusEarlyHints)
	// The writer keeps its fields for the final answer: the hint's go.
	for _, k := range added {
		delete(dst, k)
	}
	return nil
}

// close stops the passing on of 103 answers, before the final answer.
func (h *hints) close() {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.closed = true
	h.mu.Unlock()
}
