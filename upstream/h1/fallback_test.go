package h1

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
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
		// Fallback answers a request it takes, with its own error, even
		// when a field of it would not pass validation here (inspect).
		"upgrade-bad-field": func(r *http.Request) {
			r.Header.Set("Upgrade", "websocket")
			r.Header["X-Bad"] = []string{"a\r\nb"}
		},
	} {
		fb.got = nil
		req := mustReq(t, "GET", "http://127.0.0.1:1/", "")
		mod(req)
		if _, err := tr.RoundTrip(req); err != errRecorded || len(fb.got) != 1 || fb.got[0] != req {
			t.Errorf("%s: err %v, fallback got %d requests", name, err, len(fb.got))
		}
		// The gateway's way in (RoundTripAt, a copy aimed at the node)
		// and RoundTripBy's send it there too.
		fb.got = nil
		req = mustReq(t, "GET", "http://svc/", "")
		req.Host = "svc"
		mod(req)
		if _, err := tr.RoundTripAt(req, "127.0.0.1:1", time.Time{}); err != errRecorded || len(fb.got) != 1 || fb.got[0].URL.Host != "127.0.0.1:1" {
			t.Errorf("%s: RoundTripAt: err %v, fallback got %d requests", name, err, len(fb.got))
		}
		fb.got = nil
		req = mustReq(t, "GET", "http://127.0.0.1:1/", "")
		mod(req)
		if _, err := tr.RoundTripBy(req, time.Now().Add(time.Minute)); err != errRecorded || len(fb.got) != 1 {
			t.Errorf("%s: RoundTripBy: err %v, fallback got %d requests", name, err, len(fb.got))
		}
	}
	// A field that is not valid, in a request no rule sends to Fallback,
	// is refused at every way in, nothing written.
	for _, send := range []func(*http.Request) error{
		func(r *http.Request) error { _, err := tr.RoundTrip(r); return err },
		func(r *http.Request) error { _, err := tr.RoundTripAt(r, "127.0.0.1:1", time.Time{}); return err },
		func(r *http.Request) error { _, err := tr.RoundTripBy(r, time.Now().Add(time.Minute)); return err },
	} {
		fb.got = nil
		req := mustReq(t, "GET", "http://127.0.0.1:1/", "")
		req.Host = "127.0.0.1:1"
		req.Header["X-Bad"] = []string{"a\r\nb"}
		if err := send(req); !errors.Is(err, ErrNothingWritten) || len(fb.got) != 0 || d.dials.Load() != 0 {
			t.Errorf("a bad field: err %v, fallback got %d requests, %d dials", err, len(fb.got), d.dials.Load())
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
