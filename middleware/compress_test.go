package middleware_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

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

func newCompress(t *testing.T, s middleware.CompressSettings) *middleware.Compress {
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
		{"304", "GET", nil, answer{304, map[string]string{"Etag": `"a"`}, ""}, false},
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

// TestCompressUpgradesPassUntouched: a request that switches protocols
// gets the server's own writer, which can be hijacked.
func TestCompressUpgradesPassUntouched(t *testing.T) {
	c := newCompress(t, middleware.CompressSettings{})
	srv := httptest.NewServer(c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("Hijack: %v", err)
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nswitched")
		_ = brw.Flush()
	})))
	defer srv.Close()
	conn, err := netDial(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\nAccept-Encoding: gzip\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 101 || res.Header.Get("Content-Encoding") != "" {
		t.Fatalf("answer %v, %v", res, err)
	}
	if rest, _ := io.ReadAll(br); string(rest) != "switched" {
		t.Fatalf("after the switch: %q", rest)
	}
}

// TestCompressTrailersAndHijack: trailers set after a compressed body
// reach the client, and a writer being compressed can still be hijacked.
func TestCompressTrailersAndHijack(t *testing.T) {
	c := newCompress(t, middleware.CompressSettings{MinSize: -1})
	srv := httptest.NewServer(c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hijack" {
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				t.Errorf("Hijack: %v", err)
				return
			}
			_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nraw")
			conn.Close()
			return
		}
		w.Header().Set("Trailer", "X-Checksum")
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, strings.Repeat("data ", 1000))
		w.(http.Flusher).Flush()
		w.Header().Set("X-Checksum", "abc")
	})))
	defer srv.Close()
	req, _ := http.NewRequest("GET", srv.URL+"/", nil)
	req.Header.Set("Accept-Encoding", "zstd")
	res, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	got, err := io.ReadAll(decoder(t, res.Header.Get("Content-Encoding"), res.Body))
	if err != nil || string(got) != strings.Repeat("data ", 1000) || res.Header.Get("Content-Encoding") != "zstd" {
		t.Fatalf("body %d bytes, %v, encoding %q", len(got), err, res.Header.Get("Content-Encoding"))
	}
	_, _ = io.Copy(io.Discard, res.Body)
	if res.Trailer.Get("X-Checksum") != "abc" {
		t.Errorf("trailers %v", res.Trailer)
	}
	req, _ = http.NewRequest("GET", srv.URL+"/hijack", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	res, err = srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if b, _ := io.ReadAll(res.Body); string(b) != "raw" {
		t.Errorf("hijacked answer %q", b)
	}
}

// TestCompressedEventsArriveAtOnce: a server-sent event that the handler
// flushed reaches the client, decoded, while the handler waits for the
// client to have it (so the compressor cannot be holding it), in every
// coding; the time from the flush to the event decoded is logged.
func TestCompressedEventsArriveAtOnce(t *testing.T) {
	c := newCompress(t, middleware.CompressSettings{})
	for _, coding := range []string{"zstd", "br", "gzip"} {
		t.Run(coding, func(t *testing.T) {
			got := make(chan struct{})
			flushed := make(chan time.Time, 1)
			srv := httptest.NewServer(c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/event-stream")
				for i := range 3 {
					fmt.Fprintf(w, "data: {\"n\": %d}\n\n", i)
					flushed <- time.Now()
					w.(http.Flusher).Flush()
					select {
					case <-got:
					case <-r.Context().Done():
						return
					}
				}
			})))
			defer srv.Close()
			req, _ := http.NewRequest("GET", srv.URL, nil)
			req.Header.Set("Accept-Encoding", coding)
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.Header.Get("Content-Encoding") != coding {
				t.Fatalf("Content-Encoding %q", res.Header.Get("Content-Encoding"))
			}
			events := bufio.NewReader(decoder(t, coding, res.Body))
			var worst time.Duration
			for i := range 3 {
				line, err := events.ReadString('\n')
				if err != nil || line != fmt.Sprintf("data: {\"n\": %d}\n", i) {
					t.Fatalf("event %d: %q, %v", i, line, err)
				}
				worst = max(worst, time.Since(<-flushed))
				if _, err := events.ReadString('\n'); err != nil {
					t.Fatal(err)
				}
				got <- struct{}{}
			}
			t.Logf("%s: slowest event decoded %v after its flush", coding, worst)
			if worst > 2*time.Second { // generous: a bound against holding, not a benchmark
				t.Errorf("an event took %v", worst)
			}
		})
	}
}

func netDial(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, 10*time.Second) }

// TestCompressAbortedAnswerNeverLooksComplete: an answer aborted midway
// (http.ErrAbortHandler, as the router does when the backend's body
// breaks) goes through the compressing writer to the server, which cuts
// the connection: the client sees an error, never a complete-looking body
// (a wrapper that finished the answer instead would fail this).
func TestCompressAbortedAnswerNeverLooksComplete(t *testing.T) {
	c := newCompress(t, middleware.CompressSettings{})
	srv := httptest.NewServer(c.Middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, strings.Repeat("half an answer ", 5000))
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	})))
	defer srv.Close()
	for _, coding := range []string{"zstd", "br", "gzip"} {
		req, _ := http.NewRequest("GET", srv.URL, nil)
		req.Header.Set("Accept-Encoding", coding)
		res, err := srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(decoder(t, coding, res.Body))
		res.Body.Close()
		if err == nil {
			t.Errorf("%s: an aborted answer decoded without error", coding)
		}
	}
}
