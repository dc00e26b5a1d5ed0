package proxytest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The request's HTTP/2 form. An HTTP/2 client's request reaches the
// handler through net/http's HTTP/2 server, which reads it into a
// Request its own way: the fields' names in lower case on the wire,
// Cookie fields joined into one, Host from :authority (a host field kept
// among the fields), only declared trailers, connection-specific fields
// refused. The backend behind the proxy speaks HTTP/1.1, so what it must
// get is not what http.ReadRequest reads of the request's HTTP/1.1 bytes
// but what net/http's HTTP/2 server hands a handler of its frames, less
// what may not cross: the oracle sends the same frames to a reference
// server of its own (H2Reference) and takes what its handler got as the
// request the proxy must forward. One request it must not: one whose
// trailers HTTP/1.1 cannot carry to the backend, past the 4 KiB that
// net/http's server reads them in (MaxTrailerSection), which an HTTP/1.1
// client cannot send the proxy either.

// h2Host are the request's target host, and the other value of the host
// field that a request with both sends.
const (
	h2Host  = "gw.test"
	h2Other = "other.test"
)

// H2Bytes returns the request as an HTTP/2 client with prior knowledge
// writes it on a new connection: the preface, its SETTINGS, and stream 1's
// HEADERS (and CONTINUATION), DATA and trailers. The fields' names are in
// lower case, as HTTP/2 requires. The mode's bit 8 sends the target host
// as a host field instead of :authority, bit 16 a second host field of
// another value (h2Other).
func (r Request) H2Bytes(mode uint8) []byte {
	var b bytes.Buffer
	b.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&b, nil)
	fr.AllowIllegalWrites = true // the fuzzer's fields are the server's to judge
	_ = fr.WriteSettings()

	var block bytes.Buffer
	enc := hpack.NewEncoder(&block)
	field := func(k, v string) { _ = enc.WriteField(hpack.HeaderField{Name: k, Value: v}) }
	field(":method", r.Method)
	field(":scheme", "http")
	if mode&8 == 0 {
		field(":authority", h2Host)
	}
	field(":path", "/t?q=1")
	if mode&8 != 0 {
		field("host", h2Host)
	}
	if mode&16 != 0 {
		field("host", h2Other)
	}
	for _, f := range r.Fields {
		field(strings.ToLower(f[0]), f[1])
	}
	if r.Framing == 1 {
		field("content-length", strconv.Itoa(len(r.Body)))
	}
	if r.Framing == 2 && r.Declare && len(r.Trailers) > 0 {
		names := make([]string, len(r.Trailers))
		for i, t := range r.Trailers {
			names[i] = strings.ToLower(t[0])
		}
		field("trailer", strings.Join(names, ", "))
	}
	writeBlock(fr, block.Bytes(), r.Framing == 0)
	if r.Framing == 0 {
		return b.Bytes()
	}
	body := r.Body
	for len(body) > 0 {
		n := min(len(body), 16384) // the protocol's initial SETTINGS_MAX_FRAME_SIZE
		_ = fr.WriteData(1, false, body[:n])
		body = body[n:]
	}
	if r.Framing == 1 || len(r.Trailers) == 0 {
		_ = fr.WriteData(1, true, nil)
		return b.Bytes()
	}
	block.Reset()
	for _, t := range r.Trailers {
		field(strings.ToLower(t[0]), t[1])
	}
	writeBlock(fr, block.Bytes(), true)
	return b.Bytes()
}

// writeBlock writes a header block on stream 1 as a HEADERS frame and as
// many CONTINUATION frames as the frame size needs.
func writeBlock(fr *http2.Framer, block []byte, endStream bool) {
	const max = 16384
	first := block[:min(len(block), max)]
	rest := block[len(first):]
	_ = fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: first, EndStream: endStream, EndHeaders: len(rest) == 0})
	for len(rest) > 0 {
		n := min(len(rest), max)
		_ = fr.WriteContinuation(1, n == len(rest), rest[:n])
		rest = rest[n:]
	}
}

// MaxTrailerSection is the most bytes of trailers, as HTTP/1.1 writes
// them, that net/http's server reads after a chunked body (its 4 KiB
// buffer), and so the most a proxy in front of an HTTP/1.1 backend may
// forward.
const MaxTrailerSection = 4096

// H2Reference is net/http's HTTP/2 server (h2c) with a handler that
// records each request it gets: what a handler behind an HTTP/2 edge is
// handed.
type H2Reference struct {
	addr string
	got  chan Forwarded
}

// NewH2Reference starts a reference server, closed when the test ends.
func NewH2Reference(tb testing.TB) *H2Reference {
	ref := &H2Reference{got: make(chan Forwarded, 1)}
	var h2c http.Protocols
	h2c.SetUnencryptedHTTP2(true)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		ref.got <- Forwarded{r.Method, r.RequestURI, r.Host, r.Header.Clone(), r.Trailer.Clone(), body}
	}))
	srv.Config.Protocols = &h2c
	srv.Start()
	tb.Cleanup(srv.Close)
	ref.addr = srv.Listener.Addr().String()
	return ref
}

// ExpectH2 sends the request's HTTP/2 form (H2Bytes) to the reference and
// returns what the proxy must forward of it: what the reference's handler
// got, less what may not cross, as Expect does for HTTP/1.1; ok is false
// when the reference refuses it. HTTP/1.1 carries one Host, the request's
// target: a host field among an HTTP/2 request's fields is not forwarded
// as a field. An expectation other than 100-continue, which an HTTP/1.1
// listener answers 417, is forwarded without its Expect over HTTP/2 (RFC
// 9110's 417 is a MAY; net/http's HTTP/2 server sends none).
func (r Request) ExpectH2(ref *H2Reference, mode uint8, dropped, added func(string) bool) (e ExpectedForward, ok bool) {
	status, err := exchangeH2(ref.addr, r.H2Bytes(mode))
	if err != nil || status != http.StatusOK {
		return e, false
	}
	got := <-ref.got
	delete(got.Header, "Host")
	e = expectForward(got, NewRule(r.Fields), r.Declare, dropped, added)
	e.Refused = trailerBytes(got.Trailer) > MaxTrailerSection
	return e, true
}

// trailerBytes returns the bytes t takes as HTTP/1.1 trailers: its lines
// and the empty one after them.
func trailerBytes(t http.Header) int {
	if len(t) == 0 {
		return 0
	}
	var b bytes.Buffer
	_ = t.Write(&b)
	return b.Len() + len("\r\n")
}

// exchangeH2 writes req, a connection's HTTP/2 frames (H2Bytes), on a new
// connection to addr, and returns the status of stream 1's final answer,
// or an error for a stream or connection the server ends without one.
func exchangeH2(addr string, req []byte) (int, error) {
	c, err := send(addr, req)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	fr := http2.NewFramer(c, c)
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return 0, err
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				if err := fr.WriteSettingsAck(); err != nil {
					return 0, err
				}
			}
		case *http2.MetaHeadersFrame:
			if f.StreamID != 1 {
				continue
			}
			status, err := strconv.Atoi(f.PseudoValue("status"))
			if err != nil {
				return 0, fmt.Errorf("answer's :status %q", f.PseudoValue("status"))
			}
			if status >= 200 {
				return status, nil
			}
		case *http2.RSTStreamFrame:
			if f.StreamID == 1 {
				return 0, fmt.Errorf("stream reset: %v", f.ErrCode)
			}
		case *http2.GoAwayFrame:
			return 0, fmt.Errorf("GOAWAY: %v %q", f.ErrCode, f.DebugData())
		}
	}
}
