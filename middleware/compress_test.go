package middleware_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"

	"github.com/sluicehq/sluice/middleware"
)

// decoder returns a reader of r decoded by coding.
func decoder(t *testing.T, coding string, r io.Reader) io.Reader {
	t.Helper()
	switch coding {
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatalf("gzip: %v", err)
		}
		return zr
	case "br":
		return brotli.NewReader(r)
	case "zstd":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(zr.Close)
		return zr
	}
	return r
}

func newCompress(t testing.TB, s middleware.CompressSettings) *middleware.Compress {
	t.Helper()
	c, err := middleware.NewCompress(s)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// bigJSON returns a JSON document of about n bytes.
func bigJSON(n int) []byte {
	type item struct {
		ID    int    `json:"id"`
		Name  string `json:"name"`
		Email string `json:"email"`
	}
	var items []item
	size := 0
	for i := 0; size < n; i++ {
		it := item{ID: i, Name: "user " + strconv.Itoa(i), Email: fmt.Sprintf("user%d@example.com", i)}
		items = append(items, it)
		size += 60
	}
	b, _ := json.Marshal(items)
	return b
}

// TestCompressOneMiBJSON: a 1 MiB JSON answer, with a Content-Length or
// without, shrinks in every coding and decodes to the same bytes.
func TestCompressOneMiBJSON(t *testing.T) {
	body := bigJSON(1 << 20)
	c := newCompress(t, middleware.CompressSettings{})
	for _, coding := range []string{"zstd", "br", "gzip"} {
		for _, withLength := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/length=%v", coding, withLength), func(t *testing.T) {
				h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "application/json")
					w.Header().Set("Etag", `"v1"`)
					w.Header().Set("Accept-Ranges", "bytes")
					if withLength {
						w.Header().Set("Content-Length", strconv.Itoa(len(body)))
					}
					for p := body; len(p) > 0; {
						n := min(len(p), 32<<10)
						_, _ = w.Write(p[:n])
						p = p[n:]
					}
				}))
				req := httptest.NewRequest("GET", "/", nil)
				req.Header.Set("Accept-Encoding", coding)
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				res := rec.Result()
				if got := res.Header.Get("Content-Encoding"); got != coding {
					t.Fatalf("Content-Encoding %q, want %q", got, coding)
				}
				if res.Header.Get("Content-Length") != "" || res.Header.Get("Accept-Ranges") != "" {
					t.Errorf("Content-Length %q, Accept-Ranges %q kept", res.Header.Get("Content-Length"), res.Header.Get("Accept-Ranges"))
				}
				if got := res.Header.Get("Etag"); got != `W/"v1"` {
					t.Errorf("ETag %q, want W/\"v1\"", got)
				}
				if got := res.Header.Get("Vary"); got != "Accept-Encoding" {
					t.Errorf("Vary %q", got)
				}
				sent := rec.Body.Len()
				got, err := io.ReadAll(decoder(t, coding, rec.Body))
				if err != nil || !bytes.Equal(got, body) {
					t.Fatalf("decoded %d bytes (%v), want the %d sent", len(got), err, len(body))
				}
				if sent*4 > len(body) {
					t.Errorf("%s: %d bytes became %d, want at least 4 times smaller", coding, len(body), sent)
				}
				t.Logf("%s: %d → %d bytes (%.1f%%)", coding, len(body), sent, 100*float64(sent)/float64(len(body)))
			})
		}
	}
}

// TestCompressLeavesAlone lists every answer that goes out as the backend
// wrote it.
func TestCompressLeavesAlone(t *testing.T) {
	big := strings.Repeat("compressible text ", 200)
	c := newCompress(t, middleware.CompressSettings{})
	type answer struct {
		status int
		header map[string]string
		body   string
	}
	tests := []struct {
		name     string
		method   string
		reqHdr   map[string]string
		ans      answer
		wantVary bool
	}{
		{"client accepts no coding", "GET", map[string]string{"Accept-Encoding": "identity"},
			answer{200, map[string]string{"Content-Type": "text/plain"}, big}, true},
		{"HEAD", "HEAD", nil, answer{200, map[string]string{"Content-Type": "text/plain", "Content-Length": "3600"}, ""}, false},
		{"204", "GET", nil, answer{204, nil, ""}, false},
		// A 304 carries the Vary of the 200 it stands for (RFC 9110, section 15.4.5).
		{"304", "GET", nil, answer{304, map[string]string{"Etag": `"a"`}, ""}, true},
		{"206", "GET", nil, answer{206, map[string]string{"Content-Type": "text/plain", "Content-Range": "bytes 0-3599/9000"}, big}, false},
		{"Content-Range on a 416", "GET", nil, answer{416, map[string]string{"Content-Type": "text/plain", "Content-Range": "bytes */9000"}, big}, false},
		{"already encoded", "GET", nil, answer{200, map[string]string{"Content-Type": "text/plain", "Content-Encoding": "gzip"}, big}, false},
		{"no-transform", "GET", nil, answer{200, map[string]string{"Content-Type": "text/plain", "Cache-Control": "public, no-transform"}, big}, false},
		{"image/png", "GET", nil, answer{200, map[string]string{"Content-Type": "image/png"}, big}, false},
		{"video/* with parameters", "GET", nil, answer{200, map[string]string{"Content-Type": "Video/MP4; codecs=avc1"}, big}, false},
		{"woff2", "GET", nil, answer{200, map[string]string{"Content-Type": "font/woff2"}, big}, false},
		{"zip", "GET", nil, answer{200, map[string]string{"Content-Type": "application/zip"}, big}, false},
		// Vary is set before the type is sniffed: it could have been compressed.
		{"sniffed as an excluded type", "GET", nil, answer{200, nil, "\x89PNG\x0D\x0A\x1A\x0A" + big}, true},
		{"below min_size by Content-Length", "GET", nil, answer{200, map[string]string{"Content-Type": "text/plain", "Content-Length": "1023"}, big[:1023]}, true},
		{"below min_size by its bytes", "GET", nil, answer{200, map[string]string{"Content-Type": "text/plain"}, big[:1023]}, true},
		{"empty", "GET", nil, answer{200, map[string]string{"Content-Type": "text/plain"}, ""}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.ans.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.ans.status)
				_, _ = io.WriteString(w, tt.ans.body)
			}))
			req := httptest.NewRequest(tt.method, "/", nil)
			req.Header.Set("Accept-Encoding", "gzip, br, zstd")
			for k, v := range tt.reqHdr {
				req.Header.Set(k, v)
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != tt.ans.status {
				t.Errorf("status %d, want %d", rec.Code, tt.ans.status)
			}
			if ce, want := rec.Header().Get("Content-Encoding"), tt.ans.header["Content-Encoding"]; ce != want {
				t.Errorf("Content-Encoding %q, want %q", ce, want)
			}
			if rec.Body.String() != tt.ans.body {
				t.Errorf("body changed: %d bytes, want %d", rec.Body.Len(), len(tt.ans.body))
			}
			if got := rec.Header().Get("Vary") == "Accept-Encoding"; got != tt.wantVary {
				t.Errorf("Vary %q, want Accept-Encoding: %v", rec.Header().Get("Vary"), tt.wantVary)
			}
			if et, want := rec.Header().Get("Etag"), tt.ans.header["Etag"]; et != want {
				t.Errorf("ETag %q, want %q", et, want)
			}
		})
	}
}

// TestCompressSniffsAMissingType: an answer without Content-Type is
// compressed with the type the servers would have sniffed from its
// identity bytes, and its Vary keeps the backend's fields.
func TestCompressSniffsAMissingType(t *testing.T) {
	c := newCompress(t, middleware.CompressSettings{MinSize: 100})
	page := "<!DOCTYPE html><html><body>" + strings.Repeat("<p>hello</p>", 50) + "</body></html>"
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Vary", "Origin")
		_, _ = io.WriteString(w, page[:10])
		_, _ = io.WriteString(w, page[10:])
	}))
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
		t.Errorf("Content-Type %q", ct)
	}
	if v := rec.Header().Values("Vary"); len(v) != 2 || v[0] != "Origin" || v[1] != "Accept-Encoding" {
		t.Errorf("Vary %q", v)
	}
	got, err := io.ReadAll(decoder(t, rec.Header().Get("Content-Encoding"), rec.Body))
	if err != nil || string(got) != page || rec.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("got %q (%v), encoding %q", got, err, rec.Header().Get("Content-Encoding"))
	}
}

// TestCompressKeepsANilTypeUntyped: an answer whose handler set
// Content-Type to nil, net/http's way of asking that no type be sent (the
// router's, for a backend's untyped answer), is compressed when its
// sniffed type allows and left uncompressed when it does not, and goes
// untyped either way: the type sniffed decides, and is not sent.
func TestCompressKeepsANilTypeUntyped(t *testing.T) {
	c := newCompress(t, middleware.CompressSettings{MinSize: 100})
	page := "<!DOCTYPE html><html><body>" + strings.Repeat("<p>hello</p>", 50) + "</body></html>"
	png := "\x89PNG\x0D\x0A\x1A\x0A" + strings.Repeat("x", 600)
	for _, tc := range []struct {
		name, body, coding string
	}{
		{"compressible", page, "gzip"},
		{"sniffed as an excluded type", png, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header()["Content-Type"] = nil
				_, _ = io.WriteString(w, tc.body[:10])
				_, _ = io.WriteString(w, tc.body[10:])
			}))
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set("Accept-Encoding", "gzip")
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if ct, typed := rec.Header()["Content-Type"]; len(ct) > 0 {
				t.Errorf("Content-Type %q (present %v), want none", ct, typed)
			}
			if got := rec.Header().Get("Content-Encoding"); got != tc.coding {
				t.Fatalf("Content-Encoding %q, want %q", got, tc.coding)
			}
			got, err := io.ReadAll(decoder(t, tc.coding, rec.Body))
			if err != nil || string(got) != tc.body {
				t.Fatalf("got %d bytes (%v), want the %d written", len(got), err, len(tc.body))
			}
		})
	}
}

// TestCompressRequestsAreNotDecompressed: a gzip request body reaches the
// handler as the client sent it.
func TestCompressRequestsAreNotDecompressed(t *testing.T) {
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	_, _ = zw.Write(bytes.Repeat([]byte{0}, 10<<20)) // a bomb: 10 MiB of zeros
	_ = zw.Close()
	c := newCompress(t, middleware.CompressSettings{})
	var got []byte
	h := c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
	}))
	req := httptest.NewRequest("POST", "/", bytes.NewReader(zipped.Bytes()))
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Accept-Encoding", "gzip")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if !bytes.Equal(got, zipped.Bytes()) {
		t.Fatalf("the handler read %d bytes, want the %d compressed ones", len(got), zipped.Len())
	}
}
