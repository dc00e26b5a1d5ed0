package middleware_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/middleware"
)

// TestCompressShortAnswerCostsItsSize: with a large min_size, a short
// answer without a Content-Length (every streamed answer, each a client's
// request away) is held while deciding; holding it cost min_size bytes at
// once (64 MiB here), whatever its length, where its own few bytes do.
func TestCompressShortAnswerCostsItsSize(t *testing.T) {
	const minSize = 64 << 20
	h := newCompress(t, middleware.CompressSettings{MinSize: minSize}).Middleware(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"ok":true}`)
		}))
	serve := func() *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/", nil)
		r.Header.Set("Accept-Encoding", "gzip")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	serve() // the pools' and the recorder's first allocations
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	w := serve()
	runtime.ReadMemStats(&after)
	if w.Body.String() != `{"ok":true}` || w.Header().Get("Content-Encoding") != "" {
		t.Fatalf("answered %q with Content-Encoding %q, want the short answer as it is", w.Body, w.Header().Get("Content-Encoding"))
	}
	if n := after.TotalAlloc - before.TotalAlloc; n > 1<<20 {
		t.Errorf("one answer of 11 bytes allocated %d bytes", n)
	}
}

// answerWith returns a compressing handler whose backend answers status
// with the header fields (name, value pairs) and, unless 304, 4 KiB of
// JSON; and a function serving one GET with the request fields.
func answerWith(t testing.TB, status int, fields ...string) func(req ...string) *httptest.ResponseRecorder {
	t.Helper()
	body := bigJSON(4096)
	h := newCompress(t, middleware.CompressSettings{}).Middleware(http.HandlerFunc(
		func(w http.ResponseWriter, r *http.Request) {
			for i := 0; i+1 < len(fields); i += 2 {
				w.Header().Add(fields[i], fields[i+1])
			}
			w.WriteHeader(status)
			if status != http.StatusNotModified {
				_, _ = w.Write(body)
			}
		}))
	return func(req ...string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/", nil)
		for i := 0; i+1 < len(req); i += 2 {
			r.Header.Add(req[i], req[i+1])
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
}

// TestCompressLeavesDigestedAnswersAlone: an answer whose bytes the backend
// vouches for by a digest (Content-Digest, Repr-Digest, Digest,
// Content-MD5) went compressed with the backend's digest, of other bytes:
// a client that checks it took every such answer for a corrupted one.
func TestCompressLeavesDigestedAnswersAlone(t *testing.T) {
	for _, field := range []string{"Content-Digest", "Repr-Digest", "Digest", "Content-MD5"} {
		t.Run(field, func(t *testing.T) {
			w := answerWith(t, http.StatusOK, "Content-Type", "application/json", field, "sha-256=:AAAA:")("Accept-Encoding", "gzip")
			if ce := w.Header().Get("Content-Encoding"); ce != "" || w.Body.Len() != len(bigJSON(4096)) {
				t.Errorf("Content-Encoding %q, %d bytes: want the backend's bytes, which %s vouches for", ce, w.Body.Len(), field)
			}
		})
	}
}

// TestCompressNotModifiedKeepsTheWeakETag: a compressed answer's ETag is
// weak (W/"v1"); the client revalidates with it, and the backend, by weak
// comparison, answers 304 with its strong "v1", which the client's cache
// then stores on the compressed bytes it holds (and may send in If-Range,
// getting the backend's identity bytes spliced in). The 304 says W/"v1"
// again, and carries the Vary of the 200 it stands for.
func TestCompressNotModifiedKeepsTheWeakETag(t *testing.T) {
	serve := answerWith(t, http.StatusOK, "Content-Type", "application/json", "ETag", `"v1"`)
	first := serve("Accept-Encoding", "gzip")
	if et := first.Header().Get("ETag"); first.Header().Get("Content-Encoding") != "gzip" || et != `W/"v1"` {
		t.Fatalf("first answer: Content-Encoding %q, ETag %q", first.Header().Get("Content-Encoding"), et)
	}
	notModified := answerWith(t, http.StatusNotModified, "ETag", `"v1"`)
	w := notModified("Accept-Encoding", "gzip", "If-None-Match", `"v0", W/"v1"`)
	if w.Code != http.StatusNotModified {
		t.Fatalf("status %d", w.Code)
	}
	if et := w.Header().Get("ETag"); et != `W/"v1"` {
		t.Errorf("304's ETag %q, want W/\"v1\", as the client holds it", et)
	}
	if v := w.Header().Values("Vary"); len(v) != 1 || v[0] != "Accept-Encoding" {
		t.Errorf("304's Vary %q, want that of the 200 it stands for", v)
	}
	// A client holding the identity answer, strong, keeps it strong.
	w = notModified("If-None-Match", `"v1"`)
	if et := w.Header().Get("ETag"); et != `"v1"` {
		t.Errorf("304 to If-None-Match \"v1\": ETag %q, want it as it is", et)
	}
}

// manyTags304 is a backend's 304 of n ETag fields, and a client's
// If-None-Match of n weak tags, none of them the backend's.
func manyTags304(n int) (fields, req []string) {
	var inm strings.Builder
	for i := range n {
		fields = append(fields, "ETag", fmt.Sprintf(`"tag-%d"`, i))
		fmt.Fprintf(&inm, `W/"held-%d", `, i)
	}
	return fields, []string{"Accept-Encoding", "gzip", "If-None-Match", inm.String()}
}

// A 304 with more than one ETag (malformed) has each strong one made
// weak, as a compressed answer's are, whatever the client's If-None-Match
// lists: looking each tag up in the list cost the product of the two
// (a backend's 4,000 tags against a client's 48 KB list: 147 ms a
// request; BenchmarkCompressNotModifiedManyTags).
func TestCompressNotModifiedWithManyTagsWeakensEach(t *testing.T) {
	fields, req := manyTags304(3)
	fields = append(fields, "ETag", `W/"weak"`)
	w := answerWith(t, http.StatusNotModified, fields...)(req...)
	want := []string{`W/"tag-0"`, `W/"tag-1"`, `W/"tag-2"`, `W/"weak"`}
	if got := w.Header().Values("ETag"); !slices.Equal(got, want) {
		t.Errorf("ETags %q, want %q", got, want)
	}
}

func BenchmarkCompressNotModifiedManyTags(b *testing.B) {
	for _, n := range []int{1000, 4000} {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			fields, req := manyTags304(n)
			serve := answerWith(b, http.StatusNotModified, fields...)
			for b.Loop() {
				serve(req...)
			}
		})
	}
}
