package server

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"slices"
	"time"
)

// Over TLS, NetHTTP's connection wrapper cannot sit where it does in
// cleartext: below TLS it would see only ciphertext, and above it net/http
// no longer sees a *tls.Conn, which it needs to negotiate HTTP/2 (ALPN) and
// to fill Request.TLS. NetHTTPTLS therefore does the TLS handshake itself,
// in the listener, each in a goroutine of its own so that a slow handshake
// holds no other connection, and then hands net/http:
//
//   - a connection that negotiated HTTP/2 wrapped as in cleartext too, and
//     served as HTTP/2 with prior knowledge (net/http serves HTTP/2 over
//     TLS only on a *tls.Conn, whose frames no wrapper sees): its header
//     blocks are held to a head's timeout and budget, and the handler's
//     request gets the TLS state from the wrapper (see tlsH2). One that
//     net/http would refuse (TLS 1.2 with a suite RFC 9113 prohibits), or
//     any other protocol, goes as the *tls.Conn itself;
//   - an HTTP/1.x connection wrapped as in cleartext, so that net/http's
//     own error answers (400, 431, 501, 505, 417) become problem bodies. The
//     wrapper reports the TLS state (ConnectionState), from which net/http
//     fills Request.TLS as usual.
//
// A client that speaks plain HTTP to the TLS port gets a 400 problem body
// in plain HTTP, where net/http would write a text/plain one. Other failed
// handshakes are logged to the server's ErrorLog as net/http logs them.

// NetHTTPTLS prepares hs to serve TLS with cfg on ln, as NetHTTP does in
// cleartext: it wraps hs.Handler and hs.ConnContext (see NetHTTP), sets
// hs.TLSConfig to a copy of cfg offering HTTP/2 and HTTP/1.1 by ALPN (only
// HTTP/1.1 when hs.Protocols leaves HTTP/2 out), and returns the listener
// hs must serve, with hs.Serve (not ServeTLS). Handshakes are bounded as
// net/http bounds them: by the shortest of hs.ReadHeaderTimeout,
// hs.ReadTimeout and hs.WriteTimeout that is set (see handshakeTimeout).
// Call it before hs serves.
func NetHTTPTLS(hs *http.Server, ln net.Listener, cfg *tls.Config) net.Listener {
	return NetHTTPTLSWith(hs, ln, cfg, NetHTTPOptions{})
}

// NetHTTPTLSWith is NetHTTPTLS with options.
func NetHTTPTLSWith(hs *http.Server, ln net.Listener, cfg *tls.Config, o NetHTTPOptions) net.Listener {
	heads := NetHTTPWith(hs, ln, o).(problemListener).heads
	cfg = cfg.Clone()
	var protos []string
	if hs.Protocols == nil || hs.Protocols.HTTP2() {
		protos = append(protos, "h2")
		// The HTTP/2 connections are served as with prior knowledge, through
		// problemConn (see tlsH2).
		p := hs.Protocols
		if p == nil {
			p = new(http.Protocols)
			p.SetHTTP1(true)
			p.SetHTTP2(true)
		}
		p.SetUnencryptedHTTP2(true)
		hs.Protocols = p
	}
	protos = append(protos, "http/1.1")
	for _, p := range cfg.NextProtos {
		if !slices.Contains(protos, p) {
			protos = append(protos, p)
		}
	}
	cfg.NextProtos = protos
	hs.TLSConfig = cfg // net/http sets HTTP/2 up when its NextProtos name h2
	l := &tlsListener{cfg: cfg, timeout: handshakeTimeout(hs), logf: logfOf(hs), heads: heads, onRefuse: o.OnRefuse}
	l.handoff = newHandoff(ln, l.handshake)
	return l
}

// handshakeTimeout is how long a TLS handshake may take on hs: the
// shortest of its ReadHeaderTimeout, ReadTimeout and WriteTimeout that is
// set, as net/http's ServeTLS takes it; zero when none is. With
// ReadHeaderTimeout alone, a server configured with ReadTimeout only left
// handshakes unbounded: a client that never finished its hello held its
// connection for ever.
func handshakeTimeout(hs *http.Server) time.Duration {
	var d time.Duration
	for _, v := range []time.Duration{hs.ReadHeaderTimeout, hs.ReadTimeout, hs.WriteTimeout} {
		if v > 0 && (d == 0 || v < d) {
			d = v
		}
	}
	return d
}

// logfOf returns the logger net/http's server itself would use.
func logfOf(hs *http.Server) func(string, ...any) {
	return func(format string, args ...any) {
		if hs.ErrorLog != nil {
			hs.ErrorLog.Printf(format, args...)
		}
	}
}

// tlsListener accepts TCP connections, shakes hands with each in a
// goroutine (handoff), and returns them once TLS is up.
type tlsListener struct {
	handoff
	cfg     *tls.Config
	timeout time.Duration
	logf    func(string, ...any)
	heads   *netHTTPHeads
	// onRefuse is NetHTTPOptions.OnRefuse.
	onRefuse func(status int)
}

func (l *tlsListener) handshake(raw net.Conn) {
	tc := tls.Server(raw, l.cfg)
	if l.timeout > 0 {
		_ = raw.SetDeadline(time.Now().Add(l.timeout))
	}
	if err := tc.Handshake(); err != nil {
		var re tls.RecordHeaderError
		if errors.As(err, &re) && re.Conn != nil && looksLikeHTTP(re.RecordHeader) {
			if l.onRefuse != nil {
				l.onRefuse(http.StatusBadRequest)
			}
			_ = re.Conn.SetWriteDeadline(time.Now().Add(time.Second))
			_, _ = re.Conn.Write(appendProblemAnswer(nil, http.StatusBadRequest, "this port speaks HTTPS: the client sent plain HTTP"))
			re.Conn.Close()
			l.logf("http: TLS handshake error from %s: client sent an HTTP request to an HTTPS server", raw.RemoteAddr())
			return
		}
		raw.Close()
		l.logf("http: TLS handshake error from %s: %v", raw.RemoteAddr(), err)
		return
	}
	_ = raw.SetDeadline(time.Time{})
	var c net.Conn = tc
	st := tc.ConnectionState()
	pc := &problemConn{Conn: tc, onRefuse: l.onRefuse}
	pc.heads.heads = l.heads
	switch p := st.NegotiatedProtocol; {
	case p == "" || p == "http/1.1" || p == "http/1.0":
		c = &tlsProblemConn{problemConn: pc, state: st}
	case p == "h2" && tlsH2(st):
		pc.tls = &st
		c = pc
	}
	l.hand(c)
}

// tlsH2 reports whether an HTTP/2 connection whose handshake ended in st
// is served through problemConn, as HTTP/2 with prior knowledge: net/http's
// HTTP/2 server reads the connection it is given, which must be a *tls.Conn
// for it to serve HTTP/2 over TLS, and no wrapper of a *tls.Conn can see the
// frames; served as with prior knowledge, its header blocks are held to a
// head's timeout and budget (nethttp_h2blocks.go), and the handler's
// request gets the TLS state from problemConn. net/http's server itself
// refuses HTTP/2 over TLS older than 1.2, or with a cipher suite RFC 9113
// prohibits (section 9.2.2): those connections are handed to it as they
// are, for it to refuse. The suites kept are the AEAD ones with forward
// secrecy, all RFC 9113 allows of TLS 1.2.
func tlsH2(st tls.ConnectionState) bool {
	if st.Version >= tls.VersionTLS13 {
		return true
	}
	if st.Version != tls.VersionTLS12 {
		return false
	}
	switch st.CipherSuite {
	case tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:
		return true
	}
	return false
}

// looksLikeHTTP reports whether the first bytes of a TLS record are the
// start of a plain HTTP request instead (net/http checks the same).
func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}

// tlsProblemConn is a problemConn over TLS: it tells net/http the
// connection's TLS state, for Request.TLS.
type tlsProblemConn struct {
	*problemConn
	state tls.ConnectionState
}

// ConnectionState returns the state of the connection's handshake.
func (c *tlsProblemConn) ConnectionState() tls.ConnectionState { return c.state }
