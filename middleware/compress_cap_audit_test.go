package middleware

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// Each answer being compressed holds an encoder (about 2 MiB for zstd at
// the default level) for as long as it lasts: a stream, or a client that
// reads slowly, holds it at will. These tests hold the count of encoders in
// use to CompressSettings.MaxEncoders, on every way an answer can end. Each
// policy counts on a counter of its own here, where the gateway's share the
// process's (encodersInUse), so that no other test's answers count.

// cappedCompress returns a policy compressing with zstd, at most max
// answers at once, counting on a counter of its own.
func cappedCompress(t *testing.T, max int) *Compress {
	t.Helper()
	c, err := NewCompress(CompressSettings{Algorithms: []string{"zstd"}, MaxEncoders: max})
	if err != nil {
		t.Fatal(err)
	}
	c.inUse = new(atomic.Int64)
	return c
}

// streamEvent is what each streamed answer sends before it waits: shorter
// than MinSize, so that its Flush decides to compress it from its start.
const streamEvent = "data: {\"price\": 42}\n\n"

// heldStream is a streamed answer that has sent its first event, flushed
// it, and waits for release before it ends.
type heldStream struct {
	rec     *httptest.ResponseRecorder
	release chan struct{}
	done    chan struct{}
}

// holdStream starts a streamed answer of h and returns once its first event
// is flushed: its header is decided, and its encoder, if any, held.
func holdStream(h http.Handler) *heldStream {
	s := &heldStream{rec: httptest.NewRecorder(), release: make(chan struct{}), done: make(chan struct{})}
	flushed := make(chan struct{})
	r := httptest.NewRequest("GET", "/events", nil)
	r.Header.Set("Accept-Encoding", "zstd")
	go func() {
		defer close(s.done)
		h.ServeHTTP(s.rec, r.WithContext(context.WithValue(r.Context(), streamKey{}, streamChans{flushed, s.release})))
	}()
	<-flushed
	return s
}

// streamKey keys the streamChans of a request to streamHandler.
type streamKey struct{}

type streamChans struct{ flushed, release chan struct{} }

// streamHandler sends streamEvent, flushes it, tells holdStream, and waits
// for the release before it ends.
var streamHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	ch := r.Context().Value(streamKey{}).(streamChans)
	w.Header().Set("Content-Type", "text/event-stream")
	_, _ = io.WriteString(w, streamEvent)
	w.(http.Flusher).Flush()
	close(ch.flushed)
	<-ch.release
})

// end lets the answer end and waits until it did.
func (s *heldStream) end() {
	close(s.release)
	<-s.done
}

// coding returns the answer's Content-Encoding, checking that it varies by
// Accept-Encoding whether compressed or not.
func (s *heldStream) coding(t *testing.T, name string) string {
	t.Helper()
	if v := s.rec.Header().Values("Vary"); len(v) != 1 || v[0] != "Accept-Encoding" {
		t.Errorf("%s: Vary %q, want Accept-Encoding", name, v)
	}
	return s.rec.Header().Get("Content-Encoding")
}

// TestCompressCapSendsIdentityBeyondIt: with MaxEncoders 2, two streams
// hold the two encoders; the third goes uncompressed, whole, with its Vary,
// and takes none; once a stream ends, the next answer is compressed again.
// Without the cap the third took a third encoder, and ten thousand of them
// 20 GiB.
func TestCompressCapSendsIdentityBeyondIt(t *testing.T) {
	c := cappedCompress(t, 2)
	h := c.Middleware(streamHandler)
	a, b := holdStream(h), holdStream(h)
	if ca, cb := a.coding(t, "first"), b.coding(t, "second"); ca != "zstd" || cb != "zstd" {
		t.Fatalf("the first two streams went with Content-Encoding %q and %q, want zstd", ca, cb)
	}
	third := holdStream(h)
	if got := third.coding(t, "third"); got != "" {
		t.Errorf("the third stream went with Content-Encoding %q while two encoders were in use, want none", got)
	}
	if got := third.rec.Body.String(); got != streamEvent {
		t.Errorf("the third stream sent %q, want its event as it is", got)
	}
	if n := c.inUse.Load(); n != 2 {
		t.Errorf("%d encoders counted in use, want 2", n)
	}
	a.end()
	fourth := holdStream(h)
	if got := fourth.coding(t, "fourth"); got != "zstd" {
		t.Errorf("after a stream ended, the next went with Content-Encoding %q, want zstd", got)
	}
	for _, s := range []*heldStream{b, third, fourth} {
		s.end()
	}
	for i, s := range []*heldStream{a, b, fourth} {
		if got := decodeZstd(t, s.rec.Body.Bytes()); got != streamEvent {
			t.Errorf("compressed stream %d decodes to %q, want %q", i, got, streamEvent)
		}
	}
	if n := c.inUse.Load(); n != 0 {
		t.Errorf("%d encoders counted in use once every answer ended, want 0", n)
	}
}

// TestCompressCapIsTheProcesss: every policy (one per route, and those of
// a configuration reloaded while the old one's streams go on) counts on the
// one counter, so that the bound is the gateway's, not each route's.
func TestCompressCapIsTheProcesss(t *testing.T) {
	var cs [2]*Compress
	for i := range cs {
		var err error
		if cs[i], err = NewCompress(CompressSettings{}); err != nil {
			t.Fatal(err)
		}
	}
	if cs[0].inUse != &encodersInUse || cs[1].inUse != &encodersInUse {
		t.Fatal("a policy counts its encoders apart from the process's")
	}
	if cs[0].maxEncoders != DefaultCompressMaxEncoders {
		t.Errorf("MaxEncoders 0 gave %d, want DefaultCompressMaxEncoders", cs[0].maxEncoders)
	}
	if _, err := NewCompress(CompressSettings{MaxEncoders: -1}); err == nil {
		t.Error("MaxEncoders -1 was taken")
	}
	// Two routes of the same process, sharing a counter: one's stream
	// holds the only encoder, and the other's answer goes uncompressed.
	shared := new(atomic.Int64)
	one, other := cappedCompress(t, 1), cappedCompress(t, 1)
	one.inUse, other.inUse = shared, shared
	s := holdStream(one.Middleware(streamHandler))
	defer s.end()
	if got := serveOnce(t, other.Middleware(bigAnswer), "GET", nil).Header().Get("Content-Encoding"); got != "" {
		t.Errorf("another route's answer went with Content-Encoding %q while the process's one encoder was in use", got)
	}
}

// bigAnswer is 8 KiB of JSON with its type and length: compressed at its
// header, when an encoder is free.
var bigAnswer = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	body := bytes.Repeat([]byte(`{"id":1,"name":"n"},`), 400)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", "8000")
	_, _ = w.Write(body)
})

// serveOnce serves one request of method with Accept-Encoding: zstd and
// the header fields (name, value pairs), recovering a panic.
func serveOnce(t *testing.T, h http.Handler, method string, w http.ResponseWriter, fields ...string) *httptest.ResponseRecorder {
	t.Helper()
	rec, _ := w.(*httptest.ResponseRecorder)
	if w == nil {
		rec = httptest.NewRecorder()
		w = rec
	}
	r := httptest.NewRequest(method, "/", nil)
	r.Header.Set("Accept-Encoding", "zstd")
	for i := 0; i+1 < len(fields); i += 2 {
		r.Header.Add(fields[i], fields[i+1])
	}
	func() {
		defer func() { _ = recover() }()
		h.ServeHTTP(w, r)
	}()
	return rec
}

// TestCompressCapNeverLeaks: on every way an answer ends, the encoders it
// counted are counted back, and an answer the cap refused counts none back:
// a leak would leave the gateway compressing nothing after MaxEncoders
// such answers. After each, with MaxEncoders 1, the next answer is
// compressed and decodes whole (an encoder put back after an abort is
// whole too).
func TestCompressCapNeverLeaks(t *testing.T) {
	body := bytes.Repeat([]byte(`{"id":1,"name":"n"},`), 400)
	write := func(w http.ResponseWriter) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}
	tests := []struct {
		name    string
		method  string
		fields  []string                   // the request's
		w       func() http.ResponseWriter // nil: a recorder
		handler http.HandlerFunc
		coded   bool // whether the answer took an encoder (its Content-Encoding)
	}{
		{name: "complete", coded: true, handler: func(w http.ResponseWriter, r *http.Request) { write(w) }},
		{name: "panic after compressed bytes", coded: true, handler: func(w http.ResponseWriter, r *http.Request) {
			write(w)
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}},
		{name: "panic before any byte", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			panic(http.ErrAbortHandler)
		}},
		{name: "panic after the header, before any byte", coded: true, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "8000")
			w.WriteHeader(http.StatusOK) // compressing from here
			panic(http.ErrAbortHandler)
		}},
		{name: "ends after the header, before any byte", coded: true, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", "8000")
			w.WriteHeader(http.StatusOK)
		}},
		{name: "writes nothing", handler: func(w http.ResponseWriter, r *http.Request) {}},
		{name: "short", handler: func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "{}") }},
		{name: "client gone", coded: true, w: func() http.ResponseWriter { return &failingWriter{ResponseRecorder: httptest.NewRecorder()} },
			handler: func(w http.ResponseWriter, r *http.Request) {
				write(w)
				_ = http.NewResponseController(w).Flush() // fails
			}},
		{name: "the connection panics as the coding ends", coded: true, w: func() http.ResponseWriter {
			return &failingWriter{ResponseRecorder: httptest.NewRecorder(), panics: true}
		},
			handler: func(w http.ResponseWriter, r *http.Request) { write(w) }},
		{name: "hijacked while compressing", coded: true, w: func() http.ResponseWriter { return &hijackWriter{ResponseRecorder: httptest.NewRecorder()} },
			handler: func(w http.ResponseWriter, r *http.Request) {
				write(w)
				conn, _, err := http.NewResponseController(w).Hijack()
				if err != nil {
					panic(err)
				}
				_ = conn.Close()
				_, _ = w.Write(body) // refused: the connection is the handler's
			}},
		{name: "upgrade", fields: []string{"Connection", "Upgrade", "Upgrade", "websocket"},
			handler: func(w http.ResponseWriter, r *http.Request) { write(w) }},
		{name: "HEAD", method: "HEAD", handler: func(w http.ResponseWriter, r *http.Request) { write(w) }},
		{name: "304", fields: []string{"If-None-Match", `"v1"`}, handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Etag", `"v1"`)
			w.WriteHeader(http.StatusNotModified)
		}},
		{name: "204", handler: func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cappedCompress(t, 1)
			var w http.ResponseWriter = httptest.NewRecorder()
			if tt.w != nil {
				w = tt.w()
			}
			serveOnce(t, c.Middleware(tt.handler), or(tt.method, "GET"), w, tt.fields...)
			if coded := w.Header().Get("Content-Encoding") == "zstd"; coded != tt.coded {
				t.Fatalf("the answer took an encoder: %v, want %v", coded, tt.coded)
			}
			if n := c.inUse.Load(); n != 0 {
				t.Fatalf("%d encoders counted in use after the answer ended, want 0", n)
			}
			checkCompressedAgain(t, c)
		})
	}
	t.Run("refused by the cap", func(t *testing.T) {
		c := cappedCompress(t, 1)
		s := holdStream(c.Middleware(streamHandler))
		for _, h := range []http.HandlerFunc{
			func(w http.ResponseWriter, r *http.Request) { write(w) },
			func(w http.ResponseWriter, r *http.Request) { write(w); panic(http.ErrAbortHandler) },
		} {
			if got := serveOnce(t, c.Middleware(h), "GET", nil).Header().Get("Content-Encoding"); got != "" {
				t.Errorf("an answer beyond the cap went with Content-Encoding %q", got)
			}
		}
		if n := c.inUse.Load(); n != 1 {
			t.Errorf("%d encoders counted in use with one stream holding one, want 1", n)
		}
		s.end()
		if n := c.inUse.Load(); n != 0 {
			t.Fatalf("%d encoders counted in use once the stream ended, want 0", n)
		}
		checkCompressedAgain(t, c)
	})
}

// checkCompressedAgain checks that c compresses an answer, whole.
func checkCompressedAgain(t *testing.T, c *Compress) {
	t.Helper()
	rec := serveOnce(t, c.Middleware(bigAnswer), "GET", nil)
	if got := rec.Header().Get("Content-Encoding"); got != "zstd" {
		t.Fatalf("the next answer went with Content-Encoding %q, want zstd", got)
	}
	if got := decodeZstd(t, rec.Body.Bytes()); len(got) != 8000 {
		t.Errorf("the next answer decodes to %d bytes, want 8000", len(got))
	}
	if n := c.inUse.Load(); n != 0 {
		t.Errorf("%d encoders counted in use after the next answer, want 0", n)
	}
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func decodeZstd(t *testing.T, b []byte) string {
	t.Helper()
	d, err := zstd.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	out, err := io.ReadAll(d)
	if err != nil {
		t.Fatalf("decoding zstd: %v", err)
	}
	return string(out)
}

// failingWriter is a connection whose client is gone: every write of the
// body fails, or panics.
type failingWriter struct {
	*httptest.ResponseRecorder
	panics bool
}

func (w *failingWriter) Write([]byte) (int, error) {
	if w.panics {
		panic(http.ErrAbortHandler)
	}
	return 0, errors.New("connection reset by peer")
}

// hijackWriter is a recorder whose connection can be taken over.
type hijackWriter struct{ *httptest.ResponseRecorder }

func (w *hijackWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	a, b := net.Pipe()
	_ = b.Close()
	return a, bufio.NewReadWriter(bufio.NewReader(a), bufio.NewWriter(a)), nil
}

// BenchmarkEncoderMemory reports the heap an encoder in use holds, by
// coding and level, once it has coded a 1 MiB answer (brotli's grows with
// its window): the weights behind DefaultCompressMaxEncoders.
func BenchmarkEncoderMemory(b *testing.B) {
	body := []byte(strings.Repeat(`{"id":12345,"name":"something","tags":["a","b"],"v":3.14159}`, 1<<20/60))
	for alg := range numCodings {
		for level, name := range CompressLevels {
			b.Run(codingNames[alg]+"/"+name, func(b *testing.B) {
				p := newEncoderPool(alg, level)
				const n = 16
				for b.Loop() {
					var before, after runtime.MemStats
					runtime.GC()
					runtime.ReadMemStats(&before)
					encs := make([]encoder, n)
					for i := range encs {
						encs[i] = p.p.New().(encoder)
						encs[i].Reset(io.Discard)
						_, _ = encs[i].Write(body)
						_ = encs[i].Flush()
					}
					runtime.GC()
					runtime.ReadMemStats(&after)
					runtime.KeepAlive(encs)
					b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n/(1<<20), "MiB/encoder")
				}
			})
		}
	}
}
