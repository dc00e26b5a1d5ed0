package hostile

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// seen is one request as an echo backend received it.
type seen struct {
	Method     string
	RequestURI string // the request-target as it arrived, undecoded
	Host       string
	Header     http.Header
	Trailer    http.Header
	Body       string
	BodyErr    error // reading the body failed: the request was not complete
}

// echoBackend is an ordinary backend that records every request it gets and
// answers 200 with X-Seen: the request-target it received. An answer
// without X-Seen was therefore written by the gateway. Under /cors/ it
// also allows the request's Origin, with credentials.
type echoBackend struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []seen
}

func newEchoBackend(t *testing.T) *echoBackend {
	t.Helper()
	b := &echoBackend{}
	b.Server = httptest.NewServer(http.HandlerFunc(b.serve))
	t.Cleanup(b.Close)
	return b
}

func (b *echoBackend) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	s := seen{Method: r.Method, RequestURI: r.RequestURI, Host: r.Host, Header: r.Header.Clone(),
		Trailer: r.Trailer.Clone(), Body: string(body), BodyErr: err}
	b.mu.Lock()
	b.reqs = append(b.reqs, s)
	b.mu.Unlock()
	if err != nil {
		return // the request never ended: nothing to answer
	}
	w.Header().Set("X-Seen", r.RequestURI)
	w.Header().Set("X-Body-Len", strconv.Itoa(len(body)))
	if v := r.Header.Get("X-Req-Id"); v != "" {
		w.Header().Set("X-Req-Id", v)
	}
	if o := r.Header.Get("Origin"); o != "" && strings.HasPrefix(r.URL.Path, "/cors/") {
		// A framework's CORS misconfigured to allow any origin, with
		// credentials.
		w.Header().Set("Access-Control-Allow-Origin", o)
		w.Header().Set("Access-Control-Allow-Credentials", "true")
	}
	_, _ = io.WriteString(w, "echo "+r.RequestURI+"\n")
}

// matching returns the requests whose request-target contains sub.
func (b *echoBackend) matching(sub string) []seen {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []seen
	for _, s := range b.reqs {
		if strings.Contains(s.RequestURI, sub) {
			out = append(out, s)
		}
	}
	return out
}

// complete returns the requests containing sub whose body was read whole.
func (b *echoBackend) complete(sub string) []seen {
	var out []seen
	for _, s := range b.matching(sub) {
		if s.BodyErr == nil {
			out = append(out, s)
		}
	}
	return out
}
