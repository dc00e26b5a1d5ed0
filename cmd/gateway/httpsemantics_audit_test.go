package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/requestid"
)

// listenAs serves g's route handler on a loopback listener prepared by
// listen, as the gateway prepares a route listener of the server kind
// names (server.NetHTTP's corrections included, which serveHandler's
// httptest server lacks), and returns its address.
func listenAs(t *testing.T, g *gateway, kind string) string {
	t.Helper()
	l, err := g.listen(config.Listener{Address: "127.0.0.1:0", Server: kind}, g.handler(), kind, nil)
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = l.srv.Serve(l.ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = l.srv.Shutdown(ctx)
	})
	return l.ln.Addr().String()
}

// listenOn starts a gateway on the configuration text and serves it as
// listenAs does; it returns the address and the gateway's log.
func listenOn(t *testing.T, text, kind string) (string, *logBuffer) {
	t.Helper()
	cfg, _ := loadFile(t, text)
	logger, logs := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	return listenAs(t, g, kind), logs
}

// exchange writes raw on a fresh connection to addr and reads one answer
// (to a HEAD if head); it returns the answer with its body read.
func exchange(t *testing.T, addr, raw string, head bool) (*http.Response, []byte) {
	t.Helper()
	c := dial(t, addr)
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	method := "GET"
	if head {
		method = "HEAD"
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("%q: body: %v", raw, err)
	}
	return resp, body
}

// "OPTIONS *" asks about the server as a whole. The lean server hands it to
// the gateway's chain like any request (a 404 problem with a request id,
// logged and counted); net/http's server answered it itself, before the
// chain, unless DisableGeneralOptionsHandler is set: a bare 200 with no
// request id, no problem body, no access log line and no metric, so the
// two listener servers answered one request two ways.
func TestOptionsAsteriskAnsweredAlikeByBothServers(t *testing.T) {
	backend := echoBackend(t)
	statuses := map[string]int{}
	for _, kind := range listenerKinds {
		t.Run(kind, func(t *testing.T) {
			addr, logs := listenOn(t, configText(backend, "  - {method: \"*\", path: /*, service: svc}\n"), kind)
			resp, body := exchange(t, addr, "OPTIONS * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false)
			statuses[kind] = resp.StatusCode
			if !requestid.Valid(resp.Header.Get(requestid.HeaderName)) {
				t.Errorf("answer %d has no request id: %v", resp.StatusCode, resp.Header)
			}
			if ct := resp.Header.Get("Content-Type"); resp.StatusCode >= 400 && !problem.IsProblem(ct) {
				t.Errorf("error %d is %q, not a problem body: %q", resp.StatusCode, ct, body)
			}
			logs.waitFor(t, "request", 1)
		})
	}
	if statuses[config.ServerSluice] != statuses[config.ServerNetHTTP] {
		t.Errorf("OPTIONS *: %v; the two servers disagree", statuses)
	}
}

// An RPC route reads the client's body as JSON and sends the backend a body
// of its own making (the members merged with the parameters), yet it
// forwarded the client's Content-Encoding, and the digest fields that
// describe the client's bytes, with it: a body the client compressed, as
// its Content-Encoding said, was refused as malformed JSON (400, the
// client blamed), and a plain one labelled gzip reached the backend as
// gzip, which a backend that decodes what the label says (Express's
// body-parser, ASP.NET's request decompression) fails. The gateway applies
// no content coding: a body with one is refused with 415 and
// "Accept-Encoding: identity" (RFC 9110, sections 12.5.3 and 15.5.16), and
// the forwarded body, always identity, goes without the client's coding
// and digests. Both listener servers.
func TestRPCRouteContentCoding(t *testing.T) {
	seen := make(chan http.Header, 8)
	srv := httptestServer(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		seen <- r.Header.Clone()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, "{}")
	})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	_, _ = io.WriteString(zw, `{"a":1}`)
	_ = zw.Close()
	for _, kind := range listenerKinds {
		t.Run(kind, func(t *testing.T) {
			addr, _ := listenOn(t, configText(srv, "  - {method: POST, path: \"/call/{name}\", service: svc, endpoint: Svc.Call}\n"), kind)
			post := func(coding string, body []byte) string {
				return "POST /call/ada HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n" +
					"Content-Encoding: " + coding + "\r\nContent-Digest: sha-256=:AAAA:\r\nContent-Length: " +
					strconv.Itoa(len(body)) + "\r\n\r\n" + string(body)
			}

			// Compressed, as labelled: not the client's fault, not a malformed body.
			resp, body := exchange(t, addr, post("gzip", gz.Bytes()), false)
			if resp.StatusCode != http.StatusUnsupportedMediaType || resp.Header.Get("Accept-Encoding") != "identity" ||
				!problem.IsProblem(resp.Header.Get("Content-Type")) {
				t.Errorf("gzip body: %d %v %q; want 415 with Accept-Encoding: identity", resp.StatusCode, resp.Header, body)
			}
			// Plain JSON labelled gzip: never forwarded with a label its body does not bear.
			resp, body = exchange(t, addr, post("gzip", []byte(`{"a":1}`)), false)
			if resp.StatusCode == http.StatusOK {
				h := <-seen
				t.Errorf("a plain body labelled gzip was forwarded as Content-Encoding %q", h.Get("Content-Encoding"))
			} else if resp.StatusCode != http.StatusUnsupportedMediaType {
				t.Errorf("plain body labelled gzip: %d %q; want 415", resp.StatusCode, body)
			}
			// identity is no coding: served, and the rebuilt body goes
			// without the client's coding and its digest.
			resp, body = exchange(t, addr, post("identity", []byte(`{"a":1}`)), false)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("identity: %d %q", resp.StatusCode, body)
			}
			h := <-seen
			for _, f := range []string{"Content-Encoding", "Content-Digest"} {
				if v := h.Get(f); v != "" {
					t.Errorf("the backend got the client's %s %q with the gateway's body", f, v)
				}
			}
		})
	}
}

// httptestServer runs handle on a loopback server closed at the test's end
// and returns its address.
func httptestServer(t *testing.T, handle http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(handle)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// An expectation other than 100-continue is refused with 417 by both
// listener servers, as a problem body with a request id, as every error of
// the gateway's own: server.NetHTTP recognised net/http's 417 only in its
// HTTP/1.1 form, so an HTTP/1.0 request's came through as net/http wrote
// it, empty and untyped, while the lean server answered a problem.
func TestExpectationFailedIsAProblemOnBothServers(t *testing.T) {
	backend := echoBackend(t)
	for _, kind := range listenerKinds {
		for _, proto := range []string{"HTTP/1.1", "HTTP/1.0"} {
			t.Run(kind+"/"+proto, func(t *testing.T) {
				addr, _ := listenOn(t, configText(backend, "  - {method: POST, path: /up, service: svc}\n"), kind)
				resp, body := exchange(t, addr, "POST /up "+proto+"\r\nHost: x\r\nConnection: close\r\nExpect: fly\r\n"+
					"Content-Length: 3\r\n\r\nabc", false)
				if resp.StatusCode != http.StatusExpectationFailed || !problem.IsProblem(resp.Header.Get("Content-Type")) ||
					!requestid.Valid(resp.Header.Get(requestid.HeaderName)) {
					t.Errorf("%d %v %q; want a 417 problem with a request id", resp.StatusCode, resp.Header, body)
				}
			})
		}
	}
}

// The listener servers' own error answers (a request they refuse before
// any handler) carry a Date field, as every answer a handler writes does
// and as RFC 9110, section 6.6.1, requires of a 4xx from a server with a
// clock (nginx sends it on its own errors too): both servers' problem
// answers had none.
func TestServersOwnErrorsCarryDate(t *testing.T) {
	backend := echoBackend(t)
	reqs := map[string]string{
		"400 no Host":     "GET /up HTTP/1.1\r\nConnection: close\r\n\r\n",
		"417 expectation": "POST /up HTTP/1.1\r\nHost: x\r\nConnection: close\r\nExpect: fly\r\nContent-Length: 3\r\n\r\nabc",
		"505 version":     "GET /up HTTP/3.0\r\nHost: x\r\n\r\n",
		"431 header":      "GET /up HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 80<<10) + "\r\n\r\n",
	}
	for _, kind := range listenerKinds {
		addr, _ := listenOn(t, configText(backend, "  - {method: POST, path: /up, service: svc}\n"), kind)
		for name, raw := range reqs {
			t.Run(kind+"/"+name, func(t *testing.T) {
				resp, body := exchange(t, addr, raw, false)
				if resp.StatusCode < 400 || !problem.IsProblem(resp.Header.Get("Content-Type")) {
					t.Fatalf("%d %q; want an error problem", resp.StatusCode, body)
				}
				if _, err := http.ParseTime(resp.Header.Get("Date")); err != nil {
					t.Errorf("%d answer without a valid Date: %v", resp.StatusCode, resp.Header)
				}
			})
		}
	}
}

// A server must not send a 1xx answer to an HTTP/1.0 client (RFC 9110,
// section 15.2), which cannot tell it from the final answer: a backend's
// 103 Early Hints to a navigation reached an HTTP/1.0 client through
// net/http's server as the answer, the real one following as bytes after
// it (the lean server drops 1xx answers to HTTP/1.0 clients itself).
func TestNoEarlyHintsToHTTP10Clients(t *testing.T) {
	backend := rawBackend(t, func(c net.Conn, r *http.Request) {
		_, _ = io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </app.css>; rel=preload\r\n\r\n"+
			"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\nok")
	})
	for _, kind := range listenerKinds {
		t.Run(kind, func(t *testing.T) {
			addr, _ := listenOn(t, configText(backend, "  - {path: /page, service: svc}\n"), kind)
			resp, body := exchange(t, addr, "GET /page HTTP/1.0\r\nHost: x\r\nAccept: text/html\r\n\r\n", false)
			if resp.StatusCode != http.StatusOK || string(body) != "ok" {
				t.Errorf("an HTTP/1.0 client's first answer: %d %q; want the final 200", resp.StatusCode, body)
			}
		})
	}
}

// A client that offers to switch to a protocol the route does not switch
// to still asked for the resource: the Upgrade field is an offer a server
// may ignore (RFC 9110, section 7.8), as nginx and net/http's server do.
// curl --http2 on an http:// URL, and Java's HttpClient (HTTP/2 by
// default), send every first request with "Upgrade: h2c": the gateway
// refused each of them with 400 "Upgrade not allowed" (an RPC route served
// it, the field dropped as hop-by-hop). It is now served as a plain
// request, without the offer, which no backend sees (so no h2c can be
// smuggled past the gateway either). Both listener servers.
func TestUpgradeOfferTheRouteDoesNotTakeIsIgnored(t *testing.T) {
	seen := make(chan http.Header, 4)
	backend := httptestServer(t, func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Clone()
		_, _ = io.WriteString(w, "ok")
	})
	for _, kind := range listenerKinds {
		t.Run(kind, func(t *testing.T) {
			addr, _ := listenOn(t, configText(backend, "  - {path: /page, service: svc}\n"), kind)
			resp, body := exchange(t, addr, "GET /page HTTP/1.1\r\nHost: x\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n"+
				"Connection: Upgrade, HTTP2-Settings, close\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n", false)
			if resp.StatusCode != http.StatusOK || string(body) != "ok" {
				t.Fatalf("curl --http2 http://…: %d %q; want the backend's 200", resp.StatusCode, body)
			}
			h := <-seen
			for _, f := range []string{"Upgrade", "Http2-Settings", "Connection"} {
				if v := h.Get(f); v != "" {
					t.Errorf("the backend got %s: %q", f, v)
				}
			}
		})
	}
}
