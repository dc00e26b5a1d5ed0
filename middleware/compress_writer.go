package middleware

import (
	"bufio"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// compressWriter decides, once per answer, whether to compress it, and then
// either passes the answer through or encodes its body. It decides at the
// final WriteHeader when the header tells enough (a Content-Length, a
// Content-Type), else once MinSize bytes of body arrived, at the first
// Flush, or when the handler returns, whichever is first; until then the
// header and the first bytes wait here.
type compressWriter struct {
	http.ResponseWriter
	c      *Compress
	alg    coding // what the client accepts best; noCoding: none
	state  uint8
	status int
	buf    []byte // the body's first bytes, while deciding
	enc    encoder
	inm    []string // the request's If-None-Match, for a 304 (notModified)
}

// The states of a compressWriter.
const (
	cwStart    uint8 = iota // no final header yet
	cwDeciding              // header held, first bytes buffered
	cwPlain                 // passing through
	cwEncoding              // compressing
	cwDone                  // finished or hijacked
)

func (c *Compress) newWriter(w http.ResponseWriter, alg coding, inm []string) *compressWriter {
	return &compressWriter{ResponseWriter: w, c: c, alg: alg, inm: inm}
}

// Unwrap lets http.ResponseController reach the writer below for what this
// one does not do itself (write deadlines, full duplex).
func (w *compressWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// WriteHeader implements http.ResponseWriter. 1xx answers pass at once.
func (w *compressWriter) WriteHeader(code int) {
	if code < 200 {
		w.ResponseWriter.WriteHeader(code)
		return
	}
	if w.state != cwStart {
		return
	}
	w.status = code
	h := w.ResponseWriter.Header()
	if code == http.StatusNotModified {
		w.notModified(h)
	}
	if !w.eligible(h) {
		w.plain()
		return
	}
	addVary(h)
	size := int64(-1)
	if cl := h["Content-Length"]; len(cl) == 1 {
		if n, err := strconv.ParseInt(cl[0], 10, 64); err == nil && n >= 0 {
			size = n
		}
	}
	switch {
	case w.alg == noCoding || (size >= 0 && size < int64(w.c.minSize)):
		w.plain()
	case size >= 0 && len(h["Content-Type"]) > 0:
		w.encode()
	default:
		w.state = cwDeciding
	}
}

// eligible reports whether an answer of w.status with header h may be
// compressed at all, whatever the client accepts and its size.
func (w *compressWriter) eligible(h http.Header) bool {
	switch w.status {
	case http.StatusNoContent, http.StatusPartialContent, http.StatusNotModified:
		return false
	}
	return w.c.mayEncode(h)
}

// mayEncode reports whether an answer with header h may be compressed,
// whatever its status, the client and its size.
func (c *Compress) mayEncode(h http.Header) bool {
	if len(h["Content-Encoding"]) > 0 || len(h["Content-Range"]) > 0 || hasNoTransform(h["Cache-Control"]) || hasDigest(h) {
		return false
	}
	if ct := h["Content-Type"]; len(ct) > 0 && c.excludes(ct[0]) {
		return false
	}
	return true
}

// notModified gives a 304, which stands for the 200 the client holds,
// that 200's Vary (RFC 9110, section 15.4.5) and, when the client holds
// its ETag weak (W/"v1", as a compressed answer carried it) and the
// backend's 304 has it strong ("v1"), the weak form again. Left strong,
// the client's cache would take its compressed bytes for the backend's,
// and ask for the rest of them by If-Range with "v1": the backend's
// 206 would splice identity bytes into a compressed body.
func (w *compressWriter) notModified(h http.Header) {
	if !w.c.mayEncode(h) {
		return
	}
	addVary(h)
	if len(h["Etag"]) > 1 {
		// Malformed: each strong one goes weak, as on a compressed
		// answer. Looking each up in the client's list cost the product
		// of the two: a backend's 304 of thousands of tags against a
		// client's long If-None-Match took 147 ms.
		weaken(h, func(string) bool { return true })
		return
	}
	weaken(h, func(tag string) bool { return listsWeak(w.inm, tag) })
}

// weaken makes weak each strong ETag of h that held says the client holds
// weak. Every value: an answer with two ETag fields is malformed, but a
// cache may still keep one of them, and it must not be strong on bytes
// that are not the backend's.
func weaken(h http.Header, held func(tag string) bool) {
	tags, copied := h["Etag"], false
	for i, tag := range tags {
		if strings.HasPrefix(tag, `"`) && held(tag) {
			if !copied {
				tags, copied = slices.Clone(tags), true // the slice may be the backend's too
				h["Etag"] = tags
			}
			tags[i] = "W/" + tag
		}
	}
}

// listsWeak reports whether the If-None-Match values inm name the
// opaque tag tag (quotes included) weak: an entity-tag holds no '"', so
// W/ and tag found together are that element.
func listsWeak(inm []string, tag string) bool {
	for _, v := range inm {
		if strings.Contains(v, "W/"+tag) {
			return true
		}
	}
	return false
}

// Write implements http.ResponseWriter.
func (w *compressWriter) Write(p []byte) (int, error) {
	if w.state == cwStart {
		w.WriteHeader(http.StatusOK)
	}
	switch w.state {
	case cwPlain:
		return w.ResponseWriter.Write(p)
	case cwEncoding:
		return w.enc.Write(p)
	case cwDeciding:
		if len(w.buf)+len(p) < w.c.minSize {
			// Grown as bytes come, never made MinSize at once: a large
			// min_size would otherwise cost every short streamed answer
			// (each client's request) that much memory.
			w.buf = append(w.buf, p...)
			return len(p), nil
		}
		if err := w.decide(p); err != nil {
			return 0, err
		}
		return w.Write(p)
	}
	return 0, errWriteAfterFinish
}

// decide ends the deciding state with the body's first bytes, w.buf then
// next: it compresses unless the sniffed type is excluded, and writes the
// buffered bytes. next is left for the caller to write.
func (w *compressWriter) decide(next []byte) error {
	h := w.ResponseWriter.Header()
	if types, named := h["Content-Type"]; len(types) == 0 {
		if len(w.buf) == 0 && len(next) == 0 {
			w.plain() // nothing to sniff: let the server do as it does
			return w.writeBuffered()
		}
		sniff := append(w.buf[:len(w.buf):len(w.buf)], next[:min(len(next), 512)]...)
		ct := http.DetectContentType(sniff)
		if w.c.excludes(ct) {
			w.plain()
			return w.writeBuffered()
		}
		// The type the server would have sniffed from the identity body,
		// which it cannot sniff from the compressed one; but none when the
		// handler set the field to nil, net/http's way of asking that no
		// type be sent (the router's, for a backend's untyped answer).
		if !named {
			h["Content-Type"] = []string{ct}
		}
	}
	w.encode()
	return w.writeBuffered()
}

func (w *compressWriter) writeBuffered() error {
	if len(w.buf) == 0 {
		return nil
	}
	b := w.buf
	w.buf = nil
	_, err := w.Write(b)
	return err
}

// plain sends the held header as it is.
func (w *compressWriter) plain() {
	w.state = cwPlain
	w.ResponseWriter.WriteHeader(w.status)
}

// encode rewrites the header for the coding and sends it, or sends the
// header as it is when the process holds MaxEncoders encoders already. The
// count is taken before the encoder: a refused answer must not cost one.
func (w *compressWriter) encode() {
	if !w.c.acquireEncoder() {
		w.plain()
		return
	}
	w.enc = w.c.pools[w.alg].get(w.ResponseWriter) // counted from here: release gives both back
	h := w.ResponseWriter.Header()
	delete(h, "Content-Length")
	delete(h, "Accept-Ranges")
	h["Content-Encoding"] = []string{codingNames[w.alg]}
	weaken(h, func(string) bool { return true })
	w.state = cwEncoding
	w.ResponseWriter.WriteHeader(w.status)
}

// FlushError flushes the compressor, then the connection: what the handler
// wrote so far reaches the client now. An answer still being decided is
// compressed if it is one (see Compress).
func (w *compressWriter) FlushError() error {
	if w.state == cwStart {
		w.WriteHeader(http.StatusOK)
	}
	if w.state == cwDeciding {
		if err := w.decide(nil); err != nil {
			return err
		}
	}
	if w.state == cwEncoding {
		if err := w.enc.Flush(); err != nil {
			return err
		}
	}
	if w.state == cwDone {
		return errWriteAfterFinish
	}
	return http.NewResponseController(w.ResponseWriter).Flush()
}

// Flush implements http.Flusher.
func (w *compressWriter) Flush() { _ = w.FlushError() }

// Hijack hands the connection over; nothing more is compressed.
func (w *compressWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err == nil {
		w.release()
	}
	return conn, brw, err
}

// finish ends the answer once the handler returned: an answer still being
// decided is short, and goes as it is; a compressed one gets the end of its
// coding. The caller releases w after.
func (w *compressWriter) finish() {
	switch w.state {
	case cwDeciding:
		w.plain()
		_ = w.writeBuffered()
	case cwEncoding:
		_ = w.enc.Close() // a failure here is the connection's, which its server sees
	}
}

// release returns the encoder and its count, leaving the coded stream
// unfinished (an aborted answer must not look complete). It may be called
// again: once the encoder is back, it does nothing.
func (w *compressWriter) release() {
	if w.enc != nil {
		w.c.pools[w.alg].put(w.enc)
		w.enc = nil
		w.c.releaseEncoder()
	}
	w.state = cwDone
}

// excludes reports whether the media type of the Content-Type ct is one
// never compressed.
func (c *Compress) excludes(ct string) bool {
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	ct = strings.TrimSpace(ct)
	typ, _, _ := strings.Cut(ct, "/")
	for _, x := range c.excluded {
		if strings.EqualFold(x, ct) || (strings.HasSuffix(x, "/*") && strings.EqualFold(x[:len(x)-2], typ)) {
			return true
		}
	}
	return false
}

// hasNoTransform reports whether Cache-Control forbids transforming the
// answer (RFC 9111, section 5.2.2.6).
func hasNoTransform(vv []string) bool {
	for _, v := range vv {
		for _, d := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(d), "no-transform") {
				return true
			}
		}
	}
	return false
}

// digestFields are the fields that vouch for an answer's bytes (RFC 9530's
// Content-Digest and Repr-Digest, RFC 3230's Digest, Content-MD5), each
// over the bytes as sent or over their content coding: compressed, the
// answer would carry a digest of other bytes, and a client that checks it
// would take the gateway's answer for a corrupted one.
var digestFields = []string{"Content-Digest", "Repr-Digest", "Digest", "Content-Md5"}

// hasDigest reports whether h has one of digestFields.
func hasDigest(h http.Header) bool {
	for _, f := range digestFields {
		if len(h[f]) > 0 {
			return true
		}
	}
	return false
}

// addVary adds Accept-Encoding to h's Vary, unless it is there or Vary is
// "*".
func addVary(h http.Header) {
	for _, v := range h["Vary"] {
		for _, f := range strings.Split(v, ",") {
			f = strings.TrimSpace(f)
			if f == "*" || strings.EqualFold(f, "Accept-Encoding") {
				return
			}
		}
	}
	h["Vary"] = append(h["Vary"], "Accept-Encoding")
}
