package h1

import (
	"errors"
	"net/http"
	"strings"
	"testing"
)

type recorder struct{ got []*http.Request }

var errRecorded = errors.New("recorded")

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.got = append(r.got, req)
	return nil, errRecorded
}

func TestFallback(t *testing.T) {
	fb := &recorder{}
	tr, d := newTransport(t)
	tr.Fallback = fb
	for name, mod := range map[string]func(*http.Request){
		"https":    func(r *http.Request) { r.URL.Scheme = "https" },
		"expect":   func(r *http.Request) { r.Header.Set("Expect", "100-Continue") },
		"upgrade":  func(r *http.Request) { r.Header.Set("Upgrade", "websocket") },
		"conn-upg": func(r *http.Request) { r.Header.Set("Connection", "keep-alive, Upgrade") },
		"connect":  func(r *http.Request) { r.Method = "CONNECT" },
		"trailer":  func(r *http.Request) { r.Trailer = http.Header{"X-T": nil} },
	} {
		fb.got = nil
		req := mustReq(t, "GET", "http://127.0.0.1:1/", "")
		mod(req)
		if _, err := tr.RoundTrip(req); err != errRecorded || len(fb.got) != 1 || fb.got[0] != req {
			t.Errorf("%s: err %v, fallback got %d requests", name, err, len(fb.got))
		}
	}
	fb.got = nil
	tr.RoundTrip(mustReq(t, "GET", "http://127.0.0.1:1/", ""))
	if len(fb.got) != 0 || d.dials.Load() != 1 {
		t.Fatalf("a plain request went to the fallback (%d) or was not dialled (%d)", len(fb.got), d.dials.Load())
	}
}

func TestDefaultFallback(t *testing.T) {
	tr := &Transport{}
	if _, ok := tr.fallback().(*http.Transport); !ok {
		t.Fatalf("default fallback is %T", tr.fallback())
	}
	tr.CloseIdleConnections()
}

func TestLargeBodiesFallBackByDefault(t *testing.T) {
	fb := &recorder{}
	tr := &Transport{Fallback: fb, DialContext: (&dialer{}).DialContext}
	defer tr.CloseIdleConnections()
	small := mustReq(t, "POST", "http://127.0.0.1:1/", strings.Repeat("x", DefaultMaxInlineBody))
	big := mustReq(t, "POST", "http://127.0.0.1:1/", strings.Repeat("x", DefaultMaxInlineBody+1))
	unknown := mustReq(t, "POST", "http://127.0.0.1:1/", "abc")
	unknown.ContentLength = -1
	for _, req := range []*http.Request{big, unknown} {
		fb.got = nil
		if _, err := tr.RoundTrip(req); err != errRecorded || len(fb.got) != 1 {
			t.Errorf("a body of length %d: err %v, fallback got %d requests", req.ContentLength, err, len(fb.got))
		}
	}
	fb.got = nil
	tr.RoundTrip(small) // nothing listens: a dial error, but not the fallback's
	if len(fb.got) != 0 {
		t.Fatalf("a body of %d bytes went to the fallback", small.ContentLength)
	}
}
