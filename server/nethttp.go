package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// For listeners that net/http's http.Server serves (the gateway's
// "server: net/http"), NetHTTP corrects from outside two points where it
// falls short of what this package's Server does:
//
//   - Its own error answers (400, 431, 501, 505, 417) are text/plain, or
//     empty, while the gateway answers every error with a problem body.
//     net/http writes them itself, each in one Write to the connection,
//     between requests: the listener's connections recognise them there and
//     write a problem body of the same status instead.
//   - It serves a request with both Content-Length and Transfer-Encoding
//     (http.ReadRequest drops the Content-Length) and keeps the connection,
//     which lets a request smuggled in the body reach the handler if a proxy
//     in front read the Content-Length. The handler cannot see that
//     Content-Length was there, so every request with a chunked body gets
//     "Connection: close": net/http answers it and then closes. So does
//     every HTTP/1.0 request with a body: http.ReadRequest frames one that
//     also has Transfer-Encoding by its Content-Length and strips the
//     field, where a proxy in front may have read it as chunked.
//
//   - It holds a large request head read slowly until ReadHeaderTimeout,
//     however many there are: the heads larger than its reader share a
//     budget per listener, as with this package's Server
//     (nethttp_heads.go).
//
// What remains different from this package's Server on such a listener:
// the request with both fields is served (once) rather than refused; a
// handler that deletes the "Connection" field of its answer keeps the
// connection; and the other differences listed in the package
// documentation.

// NetHTTP prepares hs to serve ln as described above: it wraps hs.Handler
// (nil: http.DefaultServeMux), hs.ConnContext and hs.ConnState (keeping
// the ones set), and returns the listener hs must serve. The large heads'
// budget is DefaultLargeHeadBytes, each head counted at hs.MaxHeaderBytes
// (or http.DefaultMaxHeaderBytes) plus 4 KiB. Call it before hs serves.
func NetHTTP(hs *http.Server, ln net.Listener) net.Listener {
	return NetHTTPWith(hs, ln, NetHTTPOptions{})
}

// NetHTTPOptions tune NetHTTPWith and NetHTTPTLSWith. The zero value is
// NetHTTP's and NetHTTPTLS's.
type NetHTTPOptions struct {
	// OnRefuse, when not nil, is told of each request net/http's server
	// answers itself, refusing it before any handler sees it, with the
	// status it answered, as Server.OnRefuse is: the errors this package
	// turns into problem bodies, and a plain HTTP request to a TLS port.
	// It must not block.
	OnRefuse func(status int)
}

// NetHTTPWith is NetHTTP with options.
func NetHTTPWith(hs *http.Server, ln net.Listener, o NetHTTPOptions) net.Listener {
	h := hs.Handler
	if h == nil {
		h = http.DefaultServeMux
	}
	hs.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if pc, ok := r.Context().Value(problemConnKey{}).(*problemConn); ok {
			pc.phase.Store(phaseHandler)
			defer pc.phase.Store(phaseFinishing)
			if r.TLS == nil && pc.tls != nil {
				r.TLS = pc.tls // HTTP/2 over TLS, served as with prior knowledge (NetHTTPTLS)
			}
		}
		if len(r.TransferEncoding) > 0 || (r.ProtoAtLeast(1, 0) && !r.ProtoAtLeast(1, 1) && r.ContentLength != 0) {
			w.Header().Set("Connection", "close")
		}
		h.ServeHTTP(w, r)
	})
	prev := hs.ConnContext
	hs.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if prev != nil {
			ctx = prev(ctx, c)
		}
		switch pc := c.(type) {
		case *problemConn:
			ctx = context.WithValue(ctx, problemConnKey{}, pc)
		case *tlsProblemConn: // NetHTTPTLS's
			ctx = context.WithValue(ctx, problemConnKey{}, pc.problemConn)
		}
		return ctx
	}
	countHeads(hs)
	return problemListener{Listener: ln, heads: newNetHTTPHeads(hs), onRefuse: o.OnRefuse}
}

type problemConnKey struct{}

type problemListener struct {
	net.Listener
	heads    *netHTTPHeads
	onRefuse func(status int) // NetHTTPOptions.OnRefuse
}

func (l problemListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	pc := &problemConn{Conn: c, onRefuse: l.onRefuse}
	pc.heads.heads = l.heads
	return pc, nil
}

// Where a connection of net/http's server is: between requests (its writes
// there are the server's own answers), in a handler, or finishing the
// answer of a handler that returned (until net/http clears the write
// deadline, which it does once the answer is written).
const (
	phaseBetween int32 = iota
	phaseHandler
	phaseFinishing
)

// problemConn is a connection that net/http's server serves, whose own
// error answers it turns into problem bodies; every other byte is written
// as it is.
type problemConn struct {
	net.Conn
	phase atomic.Int32
	heads headCount // the head being read (nethttp_heads.go)
	// tls is the state of an HTTP/2 connection's TLS handshake, which
	// NetHTTPTLS serves as HTTP/2 with prior knowledge: net/http sees no
	// TLS, and the handler's request gets it here.
	tls *tls.ConnectionState
	// onRefuse is NetHTTPOptions.OnRefuse.
	onRefuse func(status int)
}

// Read counts the bytes of the head being read, and fails when a large
// one finds no room in the listener's budget.
func (c *problemConn) Read(p []byte) (int, error) {
	if err := c.heads.beforeRead(c.Conn); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	c.heads.afterRead(p[:n])
	return n, err
}

// Close gives back the room the head being read holds, if any.
func (c *problemConn) Close() error {
	c.heads.closeConn()
	return c.Conn.Close()
}

func (c *problemConn) Write(p []byte) (int, error) {
	if c.phase.Load() == phaseBetween {
		if status, detail, ok := netHTTPError(p); ok {
			if c.heads.refused {
				status, detail = http.StatusRequestHeaderFieldsTooLarge, ""
			}
			if c.onRefuse != nil {
				c.onRefuse(status)
			}
			if _, err := c.Conn.Write(appendProblemAnswer(nil, status, detail)); err != nil {
				return 0, err
			}
			return len(p), nil
		}
	}
	return c.Conn.Write(p)
}

// SetWriteDeadline is where net/http's server marks an answer done: it
// clears the write deadline after each request.
func (c *problemConn) SetWriteDeadline(t time.Time) error {
	c.phase.CompareAndSwap(phaseFinishing, phaseBetween)
	return c.Conn.SetWriteDeadline(t)
}

// SetDeadline, for symmetry with SetWriteDeadline.
func (c *problemConn) SetDeadline(t time.Time) error {
	c.phase.CompareAndSwap(phaseFinishing, phaseBetween)
	return c.Conn.SetDeadline(t)
}

// CloseWrite half-closes the connection, which net/http does before it
// closes after an error answer.
func (c *problemConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return errors.ErrUnsupported
}

// ReadFrom keeps the connection's own ReadFrom (sendfile, splice) for
// net/http's response.ReadFrom.
func (c *problemConn) ReadFrom(r io.Reader) (int64, error) { return io.Copy(c.Conn, r) }

// net/http's own answers, as its server writes them (net/http/server.go:
// conn.serve and response.sendExpectationFailed):
//
//	HTTP/1.1 431 Request Header Fields Too Large<errorHeaders>431 Request Header Fields Too Large
//	HTTP/1.1 400 Bad Request<errorHeaders>400 Bad Request
//	HTTP/1.1 501 Not Implemented<errorHeaders>Unsupported transfer encoding
//	HTTP/1.1 NNN Text: detail<errorHeaders>NNN Text: detail    (505, and 400 for Host and field names)
//	HTTP/1.1 417 Expectation Failed\r\nConnection: close\r\nDate: ...\r\nContent-Length: 0\r\n\r\n
//
// The 417 answers a request already read, in the request's version: an
// HTTP/1.0 request's begins "HTTP/1.0 417".
const (
	netHTTPErrorHeaders = "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n"
	netHTTP417          = " 417 Expectation Failed\r\nConnection: close\r\n"
	netHTTP417End       = "\r\nContent-Length: 0\r\n\r\n"
)

// netHTTPError recognises one of net/http's own error answers, written
// whole in p, and returns its status and detail.
func netHTTPError(p []byte) (status int, detail string, ok bool) {
	const prefix = "HTTP/1.1 "
	if len(p) > 1024 {
		return 0, "", false
	}
	if (bytes.HasPrefix(p, []byte("HTTP/1.1")) || bytes.HasPrefix(p, []byte("HTTP/1.0"))) &&
		bytes.HasPrefix(p[len("HTTP/1.x"):], []byte(netHTTP417)) && bytes.HasSuffix(p, []byte(netHTTP417End)) {
		return http.StatusExpectationFailed, `the only expectation served is "100-continue"`, true
	}
	if !bytes.HasPrefix(p, []byte(prefix)) {
		return 0, "", false
	}
	i := bytes.Index(p, []byte(netHTTPErrorHeaders))
	if i < 0 {
		return 0, "", false
	}
	line, body := string(p[len(prefix):i]), string(p[i+len(netHTTPErrorHeaders):])
	if len(line) < 5 || line[3] != ' ' {
		return 0, "", false
	}
	status, err := strconv.Atoi(line[:3])
	if err != nil || status < 400 || status > 599 {
		return 0, "", false
	}
	text, rest := http.StatusText(status), line[4:]
	switch {
	case rest == text && body == line:
		return status, "", true
	case status == http.StatusNotImplemented && rest == text && body == "Unsupported transfer encoding":
		return status, "unsupported transfer encoding", true
	case len(rest) > len(text)+2 && rest[:len(text)+2] == text+": " && body == line:
		return status, rest[len(text)+2:], true
	}
	return 0, "", false
}
