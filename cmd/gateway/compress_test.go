package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// decodeBody returns a reader of r decoded by coding (gzip or zstd).
func decodeBody(t *testing.T, coding string, r io.Reader) io.Reader {
	t.Helper()
	switch coding {
	case "gzip":
		zr, err := gzip.NewReader(r)
		if err != nil {
			t.Fatalf("gzip: %v", err)
		}
		return zr
	case "zstd":
		zr, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(zr.Close)
		return zr
	}
	t.Fatalf("unexpected coding %q", coding)
	return nil
}

// TestCompressedEventsThroughTheGateway: with compression on, server-sent
// events still reach the client one by one as the backend flushes them:
// the backend writes event i+1 only once the client decoded event i, so an
// event held in the compressor would fail the test at waitLimit. The delay
// from the backend's flush to the decoded event is logged, on both listener
// servers, in gzip and zstd.
func TestCompressedEventsThroughTheGateway(t *testing.T) {
	const events = 50
	for _, kind := range listenerKinds {
		for _, coding := range []string{"gzip", "zstd"} {
			t.Run(kind+"/"+coding, func(t *testing.T) {
				payload := func(i int) string { return fmt.Sprintf(`{"event": %d, "text": "a JSON payload"}`, i) }
				srv, flushed, ack := eventBackend(t, events, payload)
				cfg, _ := loadFile(t, configText(srv.Listener.Addr().String(), "  - {path: /events, service: svc, compress: {}}\n"))
				logger, _ := newLogger()
				_, addr := startGateway(t, cfg, logger, kind)

				req, _ := http.NewRequest("GET", "http://"+addr+"/events", nil)
				req.Header.Set("Accept-Encoding", coding)
				resp, err := freshClient().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				if ce := resp.Header.Get("Content-Encoding"); ce != coding {
					t.Fatalf("Content-Encoding %q, want %q", ce, coding)
				}
				delays := readFlushedEvents(t, decodeBody(t, coding, resp.Body), events, flushed, ack, payload)
				slices.Sort(delays)
				t.Logf("%s %s: %d events, delay from the backend's flush to the decoded event: p50 %v, p90 %v, max %v",
					kind, coding, events, delays[events/2], delays[events*9/10], delays[events-1])
			})
		}
	}
}

// TestCompressedJSONThroughTheGateway: a 1 MiB JSON answer, chunked by the
// backend or with a Content-Length, reaches the client compressed and
// decodes to the backend's bytes, with its trailer; a HEAD and a client
// that accepts no coding get it as it is; a route without compress never
// compresses.
func TestCompressedJSONThroughTheGateway(t *testing.T) {
	var doc bytes.Buffer
	doc.WriteString("[")
	for i := 0; doc.Len() < 1<<20; i++ {
		fmt.Fprintf(&doc, `{"id": %d, "name": "item %d", "tags": ["a", "b"]},`, i, i)
	}
	doc.WriteString(`{}]`)
	body := doc.Bytes()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Etag", `"doc-1"`)
		if r.URL.Query().Get("length") != "" {
			w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		} else {
			w.Header().Set("Trailer", "X-Count")
		}
		_, _ = w.Write(body)
		w.Header().Set("X-Count", "many")
	}))
	t.Cleanup(srv.Close)
	// The routes' budget outlasts the test, whose client gives up after
	// waitLimit: what is checked here are the bytes, not how long they
	// take. Under the race detector on a loaded machine, compressing and
	// sending the megabyte took past the default budget of 5 s, which
	// cut the answer midway (the client read an unexpected EOF).
	const routes = "  - {path: /doc, service: svc, budget: {timeout: 5m, max: 5m}, compress: {algorithms: [gzip]}}\n" +
		"  - {path: /plain, service: svc, budget: {timeout: 5m, max: 5m}}\n"
	for _, kind := range listenerKinds {
		t.Run(kind, func(t *testing.T) {
			cfg, _ := loadFile(t, configText(srv.Listener.Addr().String(), routes))
			logger, _ := newLogger()
			_, addr := startGateway(t, cfg, logger, kind)
			get := func(method, path, ae string) (*http.Response, []byte) {
				t.Helper()
				req, _ := http.NewRequest(method, "http://"+addr+path, nil)
				req.Header.Set("Accept-Encoding", ae)
				resp, err := freshClient().Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				raw, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatalf("%s %s: %v", method, path, err)
				}
				return resp, raw
			}
			for _, q := range []string{"", "?length=1"} {
				resp, raw := get("GET", "/doc"+q, "br;q=1, gzip;q=0.5")
				if resp.Header.Get("Content-Encoding") != "gzip" || resp.Header.Get("Vary") != "Accept-Encoding" ||
					resp.Header.Get("Etag") != `W/"doc-1"` || resp.ContentLength != -1 {
					t.Fatalf("GET /doc%s: header %v, length %d", q, resp.Header, resp.ContentLength)
				}
				got, err := io.ReadAll(decodeBody(t, "gzip", bytes.NewReader(raw)))
				if err != nil || !bytes.Equal(got, body) {
					t.Fatalf("GET /doc%s: decoded %d bytes (%v), want %d", q, len(got), err, len(body))
				}
				if len(raw)*4 > len(body) {
					t.Errorf("GET /doc%s: %d bytes sent for %d", q, len(raw), len(body))
				}
				if q == "" && resp.Trailer.Get("X-Count") != "many" {
					t.Errorf("trailer %v", resp.Trailer)
				}
				t.Logf("%s GET /doc%s: %d bytes sent for %d", kind, q, len(raw), len(body))
			}
			for _, c := range []struct{ method, path, ae string }{
				{"GET", "/doc", "identity"}, {"GET", "/plain", "gzip"}, {"HEAD", "/doc?length=1", "gzip"},
			} {
				resp, raw := get(c.method, c.path, c.ae)
				if resp.Header.Get("Content-Encoding") != "" || (c.method == "GET" && !bytes.Equal(raw, body)) {
					t.Errorf("%s %s with %q: Content-Encoding %q, %d bytes", c.method, c.path, c.ae,
						resp.Header.Get("Content-Encoding"), len(raw))
				}
			}
		})
	}
}
