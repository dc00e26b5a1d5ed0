package middleware

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
)

// Compress encodes a route's answers for the client (the response's
// Content-Encoding), by the codings the client accepts (Accept-Encoding,
// RFC 9110 section 12.5.3) and the route prefers: zstd, br (brotli) and
// gzip. It leaves an answer as it is when compressing would be wrong or
// useless:
//
//   - HEAD requests and requests that switch protocols (WebSockets) are not
//     touched at all;
//   - 1xx, 204, 206 and 304 answers, and any answer with Content-Range;
//   - an answer the backend already encoded (Content-Encoding), marked
//     Cache-Control: no-transform, or whose bytes a digest vouches for
//     (Content-Digest, Repr-Digest, Digest, Content-MD5);
//   - an answer whose media type is excluded (images, video, archives, …:
//     CompressSettings.TypesExcluded);
//   - an answer shorter than CompressSettings.MinSize: by its Content-Length,
//     or, when it has none, by buffering its first bytes until MinSize of
//     them arrived or the answer ended.
//
// A compressed answer loses its Content-Length and Accept-Ranges, its
// strong ETag becomes weak (W/"…": the bytes differ from the identity
// representation's; each of them, should a backend send two), and it gets
// Vary: Accept-Encoding, which every answer that could have been
// compressed gets too, so that caches keep the variants apart; a 304 gets
// it as well, unless its fields rule compression out, and says weak the
// ETags the client named weak. A missing Content-Type is sniffed from the first bytes, as the
// servers would have done on the identity body, unless the handler set the
// field to nil to have none sent (net/http's convention, which the router
// follows for a backend's untyped answer): the answer then goes untyped,
// the sniffed type deciding only whether it is compressed.
//
// Streams: every Flush flushes the compressor before the connection, so a
// server-sent event or a part of a chunked answer that the backend flushed
// reaches the client at once, compressed. An answer flushed before MinSize
// bytes arrived, and without a Content-Length (a stream), is compressed
// from its start: its size cannot be known. But an untyped one flushed
// before its first byte goes as it is: there is nothing to sniff a type
// from, and the header must go now.
//
// Memory: an answer being compressed holds its encoder, of about 1 to 6
// MiB by coding and level (compress_encoders.go), until it ends, and a
// stream or a client that reads slowly makes that as long as it likes. So
// an answer is compressed only while fewer than CompressSettings.MaxEncoders
// answers of the whole process are (every route's, and those begun under a
// configuration since replaced); beyond, it goes uncompressed, as to a
// client that accepts no coding, with the same Vary. Without the bound,
// thousands of connections each asking for a stream and reading it slowly
// would hold gigabytes.
//
// Requests are never decompressed: a request's Content-Encoding is the
// backend's business, so no request body can expand inside the gateway.
//
// A Compress is immutable once built and safe for concurrent use; its
// encoders are pooled per coding, and shared by every route it serves.
type Compress struct {
	algs        []coding
	minSize     int
	excluded    []string
	level       int
	pools       [numCodings]encoderPool
	maxEncoders int64
	inUse       *atomic.Int64 // &encodersInUse; a test's own counter in tests
}

// CompressSettings configure Compress. The zero value takes every default.
type CompressSettings struct {
	// Algorithms are the codings offered, the preferred first, among
	// "zstd", "br" and "gzip"; the client's q-values decide first, this
	// order between codings it values equally. Empty means
	// DefaultCompressAlgorithms.
	Algorithms []string
	// MinSize is the smallest answer, in bytes, that is compressed. Zero
	// means DefaultCompressMinSize; a negative value compresses any size.
	MinSize int
	// TypesExcluded are the media types never compressed: "type/subtype",
	// or "type/*" for a whole type, without regard to case. Nil means
	// DefaultCompressTypesExcluded; an empty, non-nil list excludes none.
	TypesExcluded []string
	// Level is "fastest", "default" or "best", mapped to each coding's own
	// scale (compressLevels). Empty means "default".
	Level string
	// MaxEncoders is how many answers the process compresses at once,
	// counted across every Compress, beyond which this one's answers go
	// uncompressed. Zero means DefaultCompressMaxEncoders.
	MaxEncoders int
}

// The defaults of CompressSettings.
var (
	DefaultCompressAlgorithms = []string{"zstd", "br", "gzip"}
	// DefaultCompressTypesExcluded lists media types that are compressed
	// already, or whose clients do not expect a Content-Encoding (gRPC).
	DefaultCompressTypesExcluded = []string{
		"image/png", "image/jpeg", "image/gif", "image/webp", "image/avif", "image/heic", "image/heif", "image/jxl",
		"video/*", "audio/*", "font/woff", "font/woff2",
		"application/zip", "application/gzip", "application/x-gzip", "application/zstd", "application/x-bzip2",
		"application/x-xz", "application/x-7z-compressed", "application/vnd.rar", "application/x-rar-compressed",
		"application/pdf", "application/grpc", "application/grpc+proto", "application/grpc-web", "application/grpc-web+proto",
	}
)

// DefaultCompressMinSize is the smallest answer compressed when
// CompressSettings.MinSize is zero: below about 1 KiB the coding's framing
// eats most of the gain, and one TCP segment carries the answer anyway.
const DefaultCompressMinSize = 1024

// DefaultCompressMaxEncoders is CompressSettings.MaxEncoders when zero.
// At the default level an encoder holds about 2 MiB (zstd, which the
// default order and today's browsers pick first), 1 MiB (gzip) or 3.5 MiB
// (brotli, once its window filled): 128 of them are 256 MiB of zstd, and
// at most about 450 MiB, a bound a gateway's host affords. And 128 is many
// answers being written at once: one of the gateway's ordinary answers
// holds its encoder for the milliseconds of its writing, so only streams
// and slow clients fill the count, and the answers beyond it still go out,
// uncompressed.
const DefaultCompressMaxEncoders = 128

// CompressLevels are the names CompressSettings.Level accepts.
var CompressLevels = []string{"fastest", "default", "best"}

// DefaultCompressLevel is the level when CompressSettings.Level is empty.
const DefaultCompressLevel = "default"

// NewCompress checks s and returns the compression policy it describes.
func NewCompress(s CompressSettings) (*Compress, error) {
	c := &Compress{minSize: s.MinSize, excluded: s.TypesExcluded, maxEncoders: int64(s.MaxEncoders), inUse: &encodersInUse}
	switch {
	case c.maxEncoders == 0:
		c.maxEncoders = DefaultCompressMaxEncoders
	case c.maxEncoders < 0:
		return nil, fmt.Errorf("compression max_encoders %d: must be 0 (the default, %d) or more", s.MaxEncoders, DefaultCompressMaxEncoders)
	}
	if c.minSize == 0 {
		c.minSize = DefaultCompressMinSize
	}
	if c.minSize < 0 {
		c.minSize = 0
	}
	if c.excluded == nil {
		c.excluded = DefaultCompressTypesExcluded
	}
	for _, t := range c.excluded {
		if err := CheckCompressType(t); err != nil {
			return nil, err
		}
	}
	names := s.Algorithms
	if len(names) == 0 {
		names = DefaultCompressAlgorithms
	}
	for _, n := range names {
		alg, err := codingOf(n)
		if err != nil {
			return nil, err
		}
		for _, a := range c.algs {
			if a == alg {
				return nil, fmt.Errorf("compression algorithm %q listed twice", n)
			}
		}
		c.algs = append(c.algs, alg)
	}
	level := s.Level
	if level == "" {
		level = DefaultCompressLevel
	}
	c.level = -1
	for i, l := range CompressLevels {
		if l == level {
			c.level = i
		}
	}
	if c.level < 0 {
		return nil, fmt.Errorf("unknown compression level %q: use %s", level, strings.Join(CompressLevels, ", "))
	}
	for _, alg := range c.algs {
		c.pools[alg] = newEncoderPool(alg, c.level)
	}
	return c, nil
}

// codingOf returns the coding named n.
func codingOf(n string) (coding, error) {
	for i, name := range codingNames {
		if n == name {
			return coding(i), nil
		}
	}
	return 0, fmt.Errorf("unknown compression algorithm %q: use zstd, br or gzip", n)
}

// CheckCompressType returns an error when t is not "type/subtype" or
// "type/*".
func CheckCompressType(t string) error {
	typ, sub, ok := strings.Cut(t, "/")
	if !ok || !isToken(typ) || strings.Contains(typ, "*") || (sub != "*" && (!isToken(sub) || strings.Contains(sub, "*"))) {
		return fmt.Errorf("%q is not a media type: write type/subtype or type/*", t)
	}
	return nil
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0) {
			return false
		}
	}
	return true
}

// Middleware compresses next's answers under c's policy.
func (c *Compress) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead || switchesProtocol(r.Header) {
			next.ServeHTTP(w, r)
			return
		}
		cw := c.newWriter(w, c.negotiate(r.Header["Accept-Encoding"]), r.Header["If-None-Match"])
		// Whatever happens, the encoder goes back and its count with it: after
		// finish, and when next or finish panics (an aborted answer, whose
		// coded stream stays unfinished).
		defer cw.release()
		next.ServeHTTP(cw, r)
		cw.finish()
	})
}

// switchesProtocol reports whether h asks to switch protocols.
func switchesProtocol(h http.Header) bool {
	if len(h["Upgrade"]) == 0 {
		return false
	}
	for _, v := range h["Connection"] {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), "upgrade") {
				return true
			}
		}
	}
	return false
}

// errWriteAfterFinish is returned by writes after the answer ended.
var errWriteAfterFinish = errors.New("compress: write after the answer ended")
