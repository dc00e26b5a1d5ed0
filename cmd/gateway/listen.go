package main

import (
	"context"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/mholt/acmez/v3"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/internal/tlscert"
	"github.com/sluicehq/sluice/router"
	"github.com/sluicehq/sluice/server"
)

// certPollInterval is how often a TLS listener's certificate files are
// read to see whether they changed.
const certPollInterval = 5 * time.Second

// forwardFields is how many fields the gateway adds to a request's header
// on the default route, which the forward edits in place: X-Request-Id
// (middleware.RequestID), X-Forwarded-For, -Host and -Proto (the router's
// forward) and Sluice-Budget (the upstream client's attempt). The lean
// server makes each request's header map with room for them
// (server.Server.HeaderRoom), so that a request with a few fields of its own
// does not grow its map, rehashing every field, as it is forwarded.
// TestForwardFields holds it to what the gateway adds.
const forwardFields = 5

// httpServer is what the gateway needs of *server.Server and *http.Server.
type httpServer interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
}

// listening is one bound listener: its server, and the certificates it
// serves if it is a TLS listener.
type listening struct {
	ln    net.Listener
	srv   httpServer
	certs *tlscert.Store
	// tls is set on a TLS listener; acme, on one with an acme block.
	tls  bool
	acme *acmeSite
}

// listen binds the address of l and prepares the server that serves h on
// it. A listener with tls or h2c runs net/http's server whatever l.Server
// says (config refuses "sluice" with them): the lean server speaks
// HTTP/1.x only. conns bounds the connections open at once (nil: no bound),
// shared with the other listeners given the same.
func (g *gateway) listen(l config.Listener, h http.Handler, defaultServer string, conns *server.ConnLimit) (*listening, error) {
	var certs *tlscert.Store
	if l.TLS != nil && len(l.TLS.Pairs()) > 0 {
		// Loaded before binding, so that a file changed since the
		// configuration was checked leaves no port bound.
		var err error
		if certs, err = tlscert.New(l.TLS.Pairs()); err != nil {
			return nil, err
		}
		g.certExpiry.add("listener", certs)
	}
	var served *tlsHosts
	if l.RedirectHTTPS {
		// Once, before binding: listeners are restart-only (restartOnly),
		// so the hosts are those of the configuration the gateway started
		// with, as are the listeners that serve them.
		var err error
		if served, err = servedOverTLS(g.cfg.Listeners); err != nil {
			return nil, err
		}
	}
	ln, err := net.Listen("tcp", l.Address)
	if err != nil {
		return nil, err
	}
	if p := l.ProxyProtocol; p != nil {
		// Below everything else, TLS included: the header is the
		// connection's first bytes. The listener counts a balancer's
		// connection in conns from its accept, and under its client's
		// address once the header names it.
		ln = server.ProxyListener(ln, server.ProxyOptions{From: p.Trusts, Conns: conns,
			OnRefuse: g.edge.proxyRefused, Logf: g.serverLog.Printf})
	}
	kind := l.Server
	if kind == "" {
		kind = defaultServer
	}
	if l.TLS != nil || l.H2C {
		kind = config.ServerNetHTTP
	}
	switch {
	case l.RedirectHTTPS:
		h = g.chain(g.reserved(httpsRedirect{port: l.HTTPSPort, served: served}))
	case l.TLS != nil && l.TLS.HSTS != nil:
		h = hsts(*l.TLS.HSTS, h)
	}
	// The limits of both servers, set once here. Every write to a client
	// is bounded by the write idle timeout: the router's, while it copies
	// an answer; the server's (WriteIdleTimeout, server.WriteIdle) for the
	// writes outside it, an answer's end flushed after its handler
	// returned above all; HTTP/2's WriteByteTimeout for its frames.
	writeIdle := clientWriteIdle(g.cfg.Limits.WriteIdleTimeout)
	lean := &server.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		HeaderRoom:        forwardFields,
		WatchAfter:        l.WatchAfter,
		ErrorLog:          g.serverLog,
		Conns:             conns,
		WriteIdleTimeout:  writeIdle,
		OnRefuse:          g.edge.listenerRefused,
	}
	if kind == config.ServerSluice {
		return &listening{ln: ln, srv: lean}, nil
	}
	// Counted before any TLS handshake: a handshake holds a descriptor too.
	ln = server.WriteIdle(conns.Listener(ln), writeIdle)
	// DisableGeneralOptionsHandler: "OPTIONS *" goes to the handler chain,
	// as on the lean server (a 404 problem with a request id, logged and
	// counted), not answered by net/http itself with a bare 200 that no
	// layer of the gateway sees.
	hs := &http.Server{Handler: lean.Handler, ReadHeaderTimeout: lean.ReadHeaderTimeout,
		IdleTimeout: lean.IdleTimeout, MaxHeaderBytes: lean.MaxHeaderBytes, ErrorLog: lean.ErrorLog,
		DisableGeneralOptionsHandler: true}
	hs.HTTP2 = &http.HTTP2Config{MaxConcurrentStreams: h2MaxStreams, MaxReadFrameSize: h2MaxReadFrame,
		WriteByteTimeout: writeIdle}
	if l.H2C {
		hs.Protocols = new(http.Protocols)
		hs.Protocols.SetHTTP1(true)
		hs.Protocols.SetUnencryptedHTTP2(true)
	}
	// Problem bodies for net/http's own errors, and a chunked request
	// closes its connection (server.NetHTTP says why); over TLS the same,
	// with the handshake done by the listener (server.NetHTTPTLS).
	if l.TLS == nil {
		return &listening{ln: server.NetHTTPWith(hs, ln, server.NetHTTPOptions{OnRefuse: lean.OnRefuse}), srv: hs}, nil
	}
	cfg := l.TLS.ServerConfig()
	bound := &listening{srv: hs, certs: certs, tls: true}
	if l.TLS.ACME != nil {
		bound.acme = newACMESite(l.TLS.ACME)
		cfg.GetCertificate = bound.acme.getCertificate(certs)
		if l.TLS.ACME.Challenge == config.ChallengeTLSALPN {
			cfg.NextProtos = []string{"h2", "http/1.1", acmez.ACMETLS1Protocol}
		}
	} else {
		cfg.GetCertificate = certs.GetCertificate
	}
	bound.ln = server.NetHTTPTLSWith(hs, ln, cfg, server.NetHTTPOptions{OnRefuse: lean.OnRefuse})
	return bound, nil
}

// h2MaxStreams is how many requests one HTTP/2 connection may have in
// flight at once. Each holds a connection to a node (a node's pool keeps
// 256), so Go's default of 250 let one client's TCP connection take a
// node's whole pool; 100 is the least RFC 9113 recommends a server allow,
// and what Envoy's guidance for an edge proxy sets.
const h2MaxStreams = 100

// h2MaxReadFrame is the largest frame an HTTP/2 client may send, which
// the gateway advertises (SETTINGS_MAX_FRAME_SIZE): 16 KiB, the protocol's
// initial value and least maximum. net/http's server allows 1 MiB, and
// makes each frame's buffer at the size its header declares, before the
// payload comes, keeping it for the connection's life: one frame header
// declaring 1 MiB, and a byte of payload, made a connection hold 1 MiB of
// heap (1,000 such connections: 1.09 GB in use, against 2.4 MB at rest),
// and any client whose upload used large frames kept its connection's
// buffer at that size. With 16 KiB, a frame's buffer is 16 KiB at most.
const h2MaxReadFrame = 16 << 10

// clientWriteIdle is the write idle timeout of the limits the gateway
// started with (idle; zero means router.DefaultWriteIdleTimeout), with
// which the listener servers bound each write to a client outside the
// router's copy of an answer, which its own write idle timeout bounds
// (reloaded with the routes). Without it, a client that pipelined
// requests and read none of their answers held its connection for ever
// once the socket's buffers were full: a small answer's end is flushed
// after the router cleared its deadline. On HTTP/2 it is the
// WriteByteTimeout: how long a connection may have frames to write and
// write no byte. The router's write idle timeout sets a stream's write
// deadline, which net/http's HTTP/2 server enforces by resetting the
// stream: a frame that waits behind a connection whose client reads
// nothing at all. Without this bound such a client held its handlers, and
// the connection, for ever (on HTTP/1 the deadline is the connection's and
// closes it).
func clientWriteIdle(idle time.Duration) time.Duration {
	if idle <= 0 {
		return router.DefaultWriteIdleTimeout
	}
	return idle
}

// watchCertificates polls the certificate files of every TLS listener
// until stop is closed, serving changed files that load and logging those
// that do not.
func (g *gateway) watchCertificates(ls []*listening, interval time.Duration, stop <-chan struct{}) {
	for _, l := range ls {
		if l.certs == nil {
			continue
		}
		addr := l.ln.Addr().String()
		go l.certs.Watch(interval, stop, func(err error) { g.logCertReload(addr, "files changed", err) })
	}
}

// reloadCertificates reads every TLS listener's certificate files again,
// on SIGHUP.
func (g *gateway) reloadCertificates(ls []*listening) {
	for _, l := range ls {
		if l.certs != nil {
			g.logCertReload(l.ln.Addr().String(), "reload signal", l.certs.Reload())
		}
	}
}

func (g *gateway) logCertReload(addr, why string, err error) {
	if err != nil {
		g.logger.Error("certificate reload failed; the certificates already loaded keep serving",
			slog.String("address", addr), slog.String("trigger", why), slog.String("error", err.Error()))
		return
	}
	g.logger.Info("certificates reloaded", slog.String("address", addr), slog.String("trigger", why))
}
