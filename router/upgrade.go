package router

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/problem"
)

// A request with "Connection: upgrade" and an Upgrade field asks to switch
// the connection to another protocol, WebSocket most often. An HTTP route
// forwards such a request with both fields kept, through the same client as
// any request (selection, breaker, the budget bounding the handshake, and
// the route's middleware: auth and rate limits apply at the handshake). A
// backend's 101 answer turns the client's connection into a tunnel to the
// backend's (see tunnel.go); any other answer is copied as usual. The
// Upgrade field of an HTTP/1.0 request, and one offering a protocol the
// route does not switch to, are ignored (withoutUpgrade).

// upgradeProtocol returns the protocol h asks to switch to, or "" when h
// asks for none: an Upgrade field without "upgrade" in Connection is a
// hop-by-hop field like any other, and dropped.
func upgradeProtocol(h http.Header) string {
	if !hasToken(h["Connection"], "upgrade") {
		return ""
	}
	return strings.TrimSpace(h.Get("Upgrade"))
}

// hasToken reports whether one of the comma-separated lists in vv holds
// token, compared without regard to case.
func hasToken(vv []string, token string) bool {
	for _, v := range vv {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}

// allowsUpgrade reports whether the route lets a client switch to proto.
func (h *routeHandler) allowsUpgrade(proto string) bool {
	allowed := h.route.Upgrades
	if len(allowed) == 0 {
		allowed = defaultUpgrades
	}
	for _, p := range allowed {
		if strings.EqualFold(p, proto) {
			return true
		}
	}
	return false
}

// defaultUpgrades are the protocols a route with no Upgrades allows.
var defaultUpgrades = []string{"websocket"}

// serveUpgrade forwards r, which asks to switch to proto, under ctx, the
// handshake's budget.
func (h *routeHandler) serveUpgrade(ctx context.Context, w http.ResponseWriter, r *http.Request, proto string) {
	// An offer to switch to a protocol the route does not take is ignored,
	// as a server may (RFC 9110, section 7.8), and the request served as a
	// plain one, without the offer: curl --http2 and Java's HttpClient
	// offer h2c with every first cleartext request, which nginx and
	// net/http's server serve; refused, each got a 400. The backend sees
	// no Upgrade, so nothing can switch behind the gateway's back.
	if !r.ProtoAtLeast(1, 1) || !h.allowsUpgrade(proto) {
		h.serveHTTP(ctx, w, withoutUpgrade(r))
		return
	}
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		problem.Write(w, http.StatusBadRequest, problem.TypeBadRequest, "Upgrade with a body",
			"a request that switches protocols carries no body")
		return
	}
	place, ok, why := h.opts.Tunnels.take(r)
	if !ok {
		refuseTunnel(w, why)
		return
	}
	placed := true // the place is this handshake's to give back, not yet a tunnel's
	defer func() {
		if placed {
			h.opts.Tunnels.give(place)
		}
	}()
	out := r.WithContext(ctx)
	out.RequestURI = ""
	path, rawPath := h.upstreamPath(r)
	setOutbound(out, r, url.URL{Scheme: "http", Host: h.route.Service, Path: path, RawPath: rawPath, RawQuery: r.URL.RawQuery})
	out.Host = r.Host
	out.Header["Connection"] = []string{"Upgrade"}
	out.Header["Upgrade"] = []string{proto}
	out.Close = false
	out.Body, out.ContentLength = nil, 0
	resp, err := h.client.Do(out)
	if err != nil {
		h.fail(ctx, w, err)
		return
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		defer resp.Body.Close()
		h.answer(ctx, w, resp)
		return
	}
	backend, ok := resp.Body.(io.ReadWriteCloser)
	if got := upgradeProtocol(resp.Header); !ok || !strings.EqualFold(got, proto) {
		resp.Body.Close()
		detail := fmt.Sprintf("the backend switched to protocol %q when %q was asked", got, proto)
		if !ok {
			detail = "the backend's 101 answer came without a connection to write to"
		}
		h.logUpgrade(ctx, slog.LevelWarn, "upgrade refused", detail)
		problem.Write(w, http.StatusBadGateway, problem.TypeUpstream, "Bad upgrade", detail)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		backend.Close()
		h.logUpgrade(ctx, slog.LevelWarn, "upgrade failed", "cannot take the connection: "+err.Error())
		problem.Write(w, http.StatusInternalServerError, problem.TypeInternal, "Upgrade failed",
			"this connection cannot switch protocols")
		return
	}
	t := newTunnel(conn, backend, proto, h.opts.WriteIdleTimeout)
	t.place, placed = place, false // its unregister gives the place back
	// The tunnel is tracked before its 101 goes out: a shutdown between the
	// two found no tunnel to end and let the process exit under a client
	// that had its 101. The 101 is written under the client's write lock,
	// so that a close frame from that shutdown (tunnel.end) follows it.
	open := t.register(h.opts.Tunnels)
	t.wmu.Lock()
	err = writeSwitch(conn, brw.Writer, resp.Header, proto, h.opts.WriteIdleTimeout)
	t.wmu.Unlock()
	if err != nil {
		t.abort()
		t.unregister(h.opts.Tunnels)
		h.logUpgrade(ctx, slog.LevelInfo, "upgrade failed", "writing the 101 answer: "+err.Error())
		return
	}
	// Bytes the client sent after its handshake, already read by the
	// server, go first.
	var early []byte
	if n := brw.Reader.Buffered(); n > 0 {
		early, _ = brw.Reader.Peek(n)
	}
	t.run(early, h.tunnelLimits(ctx), h.opts.Tunnels, open)
}

// withoutUpgrade returns a copy of r, an HTTP/1.0 request, with its Upgrade
// field dropped: a server ignores the Upgrade field of an HTTP/1.0 request
// (RFC 9110, section 7.8), since an HTTP/1.0 proxy before it may have
// passed the field on without knowing it is hop-by-hop, and would take the
// tunnel's bytes for answers. The request goes on as a plain one.
func withoutUpgrade(r *http.Request) *http.Request {
	r2 := *r
	r2.Header = r.Header.Clone()
	delete(r2.Header, "Upgrade")
	return &r2
}

// writeSwitch writes the 101 answer to the client: the backend's header
// less its hop-by-hop fields, with Connection and Upgrade of its own.
func writeSwitch(conn interface{ SetWriteDeadline(time.Time) error }, bw *bufio.Writer,
	backend http.Header, proto string, idle time.Duration) error {
	hdr := make(http.Header, len(backend)+2)
	var buf [4]string
	copyHeader(hdr, backend, connectionNamed(buf[:0], backend))
	// A 1xx answer has no body, and a server must not send it a
	// Content-Length (RFC 9110, section 8.6): a client or proxy before the
	// gateway that believed one would take the tunnel's first bytes for it.
	delete(hdr, "Content-Length")
	hdr["Connection"] = []string{"Upgrade"}
	hdr["Upgrade"] = []string{proto}
	_ = conn.SetWriteDeadline(time.Now().Add(idle))
	if _, err := bw.WriteString("HTTP/1.1 101 Switching Protocols\r\n"); err != nil {
		return err
	}
	if err := hdr.Write(bw); err != nil {
		return err
	}
	if _, err := bw.WriteString("\r\n"); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return conn.SetWriteDeadline(time.Time{})
}

func (h *routeHandler) logUpgrade(ctx context.Context, level slog.Level, msg, detail string) {
	h.logFailure(ctx, level, msg, slog.String("route", h.route.DisplayName()),
		slog.String("service", h.route.Service), slog.String("detail", detail))
}
