package h1

import (
	"bufio"
	"bytes"
	"context"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// wireLines splits a request's header section into its request line and its
// field lines, the latter ordered by name only (a stable sort keeps the
// order of one name's values, which is meaningful): two writers that agree
// on these agree on the request.
func wireLines(b []byte) (string, []string) {
	head, _, _ := bytes.Cut(b, []byte("\r\n\r\n"))
	lines := strings.Split(string(head), "\r\n")
	fields := lines[1:]
	slices.SortStableFunc(fields, func(a, b string) int {
		ka, _, _ := strings.Cut(a, ":")
		kb, _, _ := strings.Cut(b, ":")
		return strings.Compare(ka, kb)
	})
	return lines[0], fields
}

// compareWrites writes req with writeRequest and with Request.Write and
// fails unless both give the same request, or writeRequest declined it.
// It reports whether writeRequest wrote.
func compareWrites(t *testing.T, req *http.Request) bool {
	t.Helper()
	var fast, std bytes.Buffer
	bw := bufio.NewWriter(&fast)
	wrote := writeRequest(bw, req)
	bw.Flush()
	if !wrote {
		if fast.Len() != 0 {
			t.Fatalf("writeRequest declined but wrote %q", fast.Bytes())
		}
		return false
	}
	if err := req.Write(&std); err != nil {
		t.Fatalf("writeRequest wrote %q where Request.Write fails: %v", fast.Bytes(), err)
	}
	fl, ff := wireLines(fast.Bytes())
	sl, sf := wireLines(std.Bytes())
	if fl != sl || !slices.Equal(ff, sf) || !bytes.HasSuffix(fast.Bytes(), []byte("\r\n\r\n")) {
		t.Fatalf("writeRequest and Request.Write differ:\n%q\n%q", fast.Bytes(), std.Bytes())
	}
	// The same lines parse the same; a map key such as "HoSt" can make
	// both unparseable (a second Host field), which is the caller's doing.
	_, ferr := http.ReadRequest(bufio.NewReader(&fast))
	_, serr := http.ReadRequest(bufio.NewReader(&std))
	if (ferr == nil) != (serr == nil) {
		t.Fatalf("parsing what writeRequest wrote: %v; what Request.Write wrote: %v", ferr, serr)
	}
	return true
}

func newRequest(t *testing.T, method, rawURL string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

func TestWriteRequestMatchesRequestWrite(t *testing.T) {
	tests := []struct {
		name  string
		req   func() *http.Request
		wrote bool
	}{
		{"plain GET", func() *http.Request { return newRequest(t, "GET", "http://svc:8080/a/b?x=1&y=%20") }, true},
		{"fields", func() *http.Request {
			r := newRequest(t, "GET", "http://svc/p")
			r.Header.Set("Accept", "application/json")
			r.Header.Add("X-Multi", "1")
			r.Header.Add("X-Multi", " 2 ")
			r.Header.Set("Sluice-Budget", "ms=2998, hop=1, retry=0")
			r.Header["lowercase-key"] = []string{"v"}
			return r
		}, true},
		{"own User-Agent", func() *http.Request {
			r := newRequest(t, "GET", "http://svc/")
			r.Header.Set("User-Agent", " curl/8 ")
			return r
		}, true},
		{"empty User-Agent", func() *http.Request {
			r := newRequest(t, "GET", "http://svc/")
			r.Header["User-Agent"] = []string{""}
			return r
		}, true},
		{"User-Agent without values", func() *http.Request {
			r := newRequest(t, "GET", "http://svc/")
			r.Header["User-Agent"] = nil
			return r
		}, true},
		{"excluded fields", func() *http.Request {
			r := newRequest(t, "GET", "http://svc/")
			for _, k := range []string{"Host", "Content-Length", "Transfer-Encoding", "Trailer"} {
				r.Header.Set(k, "ignored")
			}
			return r
		}, true},
		{"Host differs from the URL", func() *http.Request {
			r := newRequest(t, "GET", "http://10.0.0.1:9000/")
			r.Host = "api.example"
			return r
		}, true},
		{"empty method", func() *http.Request { r := newRequest(t, "GET", "http://svc/"); r.Method = ""; return r }, true},
		{"POST without body", func() *http.Request { return newRequest(t, "POST", "http://svc/") }, true},
		{"PUT with NoBody", func() *http.Request {
			r := newRequest(t, "PUT", "http://svc/")
			r.Body = http.NoBody
			return r
		}, true},
		{"PATCH", func() *http.Request { return newRequest(t, "PATCH", "http://svc/") }, true},
		{"DELETE", func() *http.Request { return newRequest(t, "DELETE", "http://svc/") }, true},
		{"HEAD", func() *http.Request { return newRequest(t, "HEAD", "http://svc/") }, true},
		{"IPv6 host", func() *http.Request { return newRequest(t, "GET", "http://[::1]:8080/") }, true},
		{"escaped path", func() *http.Request { return newRequest(t, "GET", "http://svc/a%2Fb/c%20d") }, true},

		// Declined: Request.Write's work.
		{"body", func() *http.Request {
			r, _ := http.NewRequest("POST", "http://svc/", strings.NewReader("x"))
			return r
		}, false},
		{"Close", func() *http.Request { r := newRequest(t, "GET", "http://svc/"); r.Close = true; return r }, false},
		{"IPv6 zone", func() *http.Request { return newRequest(t, "GET", "http://[fe80::1%25eth0]:80/") }, false},
		{"non-ASCII host", func() *http.Request { return newRequest(t, "GET", "http://bücher.example/") }, false},
		{"opaque URL", func() *http.Request {
			r := newRequest(t, "GET", "http://svc/")
			r.URL.Opaque = "//svc/raw"
			return r
		}, false},
		{"trace", func() *http.Request {
			r := newRequest(t, "GET", "http://svc/")
			return r.WithContext(httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{}))
		}, false},
		{"control byte in the target", func() *http.Request {
			r := newRequest(t, "GET", "http://svc/")
			r.URL.RawPath, r.URL.Path = "", "/a\x01b"
			return r
		}, true}, // RequestURI escapes it
		{"TransferEncoding", func() *http.Request {
			r := newRequest(t, "GET", "http://svc/")
			r.TransferEncoding = []string{"chunked"}
			return r
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := tt.req()
			if _, err := inspect(req); err != nil {
				t.Fatalf("inspect: %v", err)
			}
			if got := compareWrites(t, req); got != tt.wrote {
				t.Fatalf("writeRequest wrote = %v, want %v", got, tt.wrote)
			}
		})
	}
}

func TestWriteRequestAllocatesNothing(t *testing.T) {
	req := newRequest(t, "GET", "http://svc:8080/hello/bench")
	req.Header.Set("Sluice-Budget", "ms=2998, hop=1, retry=0")
	req.Header.Set("Accept", "*/*")
	bw := bufio.NewWriterSize(discard{}, 4096)
	if n := testing.AllocsPerRun(100, func() {
		if !writeRequest(bw, req) {
			t.Fatal("declined")
		}
		bw.Flush()
	}); n > 0 {
		t.Fatalf("%v allocations per request", n)
	}
}

// TestValidateRefusesWriterFieldsInOtherCases: a field the writers frame
// themselves, set in the map under a name that is not canonical, would go
// out beside theirs (Request.Write sends it too): a bodiless GET with
// "content-length: 5" desynchronizes the pooled connection. validate
// refuses it (inspect), and the canonical names and other fields still pass.
func TestValidateRefusesWriterFieldsInOtherCases(t *testing.T) {
	for _, k := range []string{"content-length", "CONTENT-LENGTH", "transfer-encoding", "HoSt", "host", "trailer"} {
		req := newRequest(t, "GET", "http://svc/")
		req.Header[k] = []string{"5"}
		if _, err := inspect(req); err == nil {
			t.Errorf("inspect accepted a %q field", k)
		}
	}
	for _, k := range []string{"Content-Length", "Host", "Trailer", "x-lower", "Content-Lengths", "hostx"} {
		req := newRequest(t, "GET", "http://svc/")
		req.Header[k] = []string{"5"}
		if _, err := inspect(req); err != nil {
			t.Errorf("inspect refused a %q field: %v", k, err)
		}
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// FuzzWriteRequest holds writeRequest to Request.Write on requests built
// from fuzzed parts: whenever writeRequest writes, Request.Write must accept
// the request and write the same request line and fields.
func FuzzWriteRequest(f *testing.F) {
	f.Add("GET", "http://svc/a?b=c", "", "Accept", "a/b", "X", " y ")
	f.Add("POST", "http://svc:1/", "other", "User-Agent", "", "Host", "h")
	f.Add("", "http://[::1]/%41", "", "user-agent", "z", "Trailer", "t")
	f.Add("PATCH", "http://svc/x#frag", "h:1", "Content-Length", "5", "X-A", "\t")
	// Found by fuzzing: a User-Agent of spaces is sent empty, not left out;
	// a "HoSt" key made both writers send two Host fields (inspect now
	// refuses it).
	f.Add("0", "//0", "0", "User-Agent", " ", "0", "0")
	f.Add("0", "//0", "0", "0", "", "HoSt", "0")
	f.Fuzz(func(t *testing.T, method, rawURL, host, k1, v1, k2, v2 string) {
		u, err := url.Parse(rawURL)
		if err != nil || u.Host == "" {
			return
		}
		req := &http.Request{Method: method, URL: u, Host: host, Header: http.Header{}}
		req.Header[k1] = append(req.Header[k1], v1)
		req.Header[k2] = append(req.Header[k2], v2)
		if _, err := inspect(req); err != nil {
			return
		}
		compareWrites(t, req)
	})
}
