package router_test

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"

	"github.com/sluicehq/sluice/internal/servertest"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/router"
	"github.com/sluicehq/sluice/upstream"
)

// What FuzzProxiedAnswer and FuzzForwardedRequest share: field lines from
// the fuzzer's input, a chunked body with its trailers, the rule of what
// crosses a proxy, and the router they send through, on both listener
// servers.

// fieldLines returns the "name: value" lines of lines whose name is a
// token and value a field value, at most max of them, less those whose
// canonical name skip reports.
func fieldLines(lines string, max int, skip func(canonical string) bool) [][2]string {
	var out [][2]string
	for line := range strings.SplitSeq(lines, "\n") {
		name, value, ok := strings.Cut(line, ":")
		value = strings.Trim(value, " \t")
		if !ok || !httpguts.ValidHeaderFieldName(name) || !httpguts.ValidHeaderFieldValue(value) ||
			strings.ContainsAny(value, "\r\n") || len(out) == max || skip(http.CanonicalHeaderKey(name)) {
			continue
		}
		out = append(out, [2]string{name, value})
	}
	return out
}

// writeFields writes fields as field lines.
func writeFields(b *bytes.Buffer, fields [][2]string) {
	for _, f := range fields {
		fmt.Fprintf(b, "%s: %s\r\n", f[0], f[1])
	}
}

// writeChunked ends a header with chunked framing, declaring the trailers
// when declare is set, and writes body in one chunk and the trailers.
func writeChunked(b *bytes.Buffer, body []byte, trailers [][2]string, declare bool) {
	if declare && len(trailers) > 0 {
		names := make([]string, len(trailers))
		for i, t := range trailers {
			names[i] = t[0]
		}
		fmt.Fprintf(b, "Trailer: %s\r\n", strings.Join(names, ", "))
	}
	b.WriteString("Transfer-Encoding: chunked\r\n\r\n")
	if len(body) > 0 {
		fmt.Fprintf(b, "%x\r\n%s\r\n", len(body), body)
	}
	b.WriteString("0\r\n")
	writeFields(b, trailers)
	b.WriteString("\r\n")
}

// proxyRule tells which fields of a message cross a proxy: not hop-by-hop
// ones, nor those its Connection fields name. The names are read from the
// fields as sent: ReadResponse deletes a Connection field that says
// "close", with whatever else it names.
type proxyRule struct{ named []string }

func newProxyRule(fields [][2]string) proxyRule {
	var r proxyRule
	for _, f := range fields {
		if http.CanonicalHeaderKey(f[0]) != "Connection" {
			continue
		}
		for n := range strings.SplitSeq(f[1], ",") {
			if n = strings.TrimSpace(n); n != "" {
				r.named = append(r.named, http.CanonicalHeaderKey(n))
			}
		}
	}
	return r
}

// crosses reports whether the field k crosses.
func (r proxyRule) crosses(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return false
	}
	return !slices.Contains(r.named, k)
}

// trailers returns the trailers of t that cross: as fields, and as
// trailers (RFC 9110, section 6.5.1), with a value.
func (r proxyRule) trailers(t http.Header) http.Header {
	out := http.Header{}
	for k, vv := range t {
		if r.crosses(k) && httpguts.ValidTrailerHeader(k) && len(vv) > 0 {
			out[k] = vv
		}
	}
	return out
}

// compareSent appends to problems how the body and fields received (got)
// differ from those sent that must cross (want): the body byte for byte,
// each field with its values in their order.
func compareSent(problems []string, gotBody, wantBody []byte, got, want http.Header) []string {
	if !bytes.Equal(gotBody, wantBody) {
		problems = append(problems, fmt.Sprintf("body %q, want %q", gotBody, wantBody))
	}
	for k, w := range want {
		if g := got[k]; !slices.Equal(g, w) {
			problems = append(problems, fmt.Sprintf("field %s %q, want %q", k, g, w))
		}
	}
	return problems
}

// compareTrailers appends to problems how got differs from want.
func compareTrailers(problems []string, got, want http.Header) []string {
	for k, w := range want {
		if g := got[k]; !slices.Equal(g, w) {
			problems = append(problems, fmt.Sprintf("trailer %s %q, want %q", k, g, w))
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok && len(g) > 0 {
			problems = append(problems, fmt.Sprintf("trailer %s %q, which should not cross", k, g))
		}
	}
	return problems
}

// proxyEdge is a listener server serving the router, with a client that
// keeps its connection and never asks for compression (a client that did
// would decode the body it is handed).
type proxyEdge struct {
	name   string
	addr   string
	url    string // of /t
	client *http.Client
	h2     bool // the client speaks HTTP/2 (h2c), not HTTP/1.1
}

// newProxyEdges serves h with package server and with net/http's server,
// the latter over HTTP/1.1 and over h2c.
func newProxyEdges(tb testing.TB, h http.Handler) []proxyEdge {
	var both, h2c http.Protocols
	both.SetHTTP1(true)
	both.SetUnencryptedHTTP2(true)
	h2c.SetUnencryptedHTTP2(true)
	srv := httptest.NewUnstartedServer(h)
	srv.Config.Protocols = &both
	srv.Start()
	tb.Cleanup(srv.Close)
	var edges []proxyEdge
	for _, e := range []struct {
		name, addr string
		h2         bool
	}{
		{"server", servertest.Start(tb, h), false},
		{"net-http", srv.Listener.Addr().String(), false},
		{"net-http-h2c", srv.Listener.Addr().String(), true},
	} {
		tr := &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 1}
		if e.h2 {
			tr.Protocols = &h2c
		}
		tb.Cleanup(tr.CloseIdleConnections)
		edges = append(edges, proxyEdge{e.name, e.addr, "http://" + e.addr + "/t", &http.Client{Transport: tr, Timeout: waitLimit}, e.h2})
	}
	return edges
}

// newTransparentRouter returns a router with one route of method to /t on
// node, through the gateway's own transport (h1), with no policy that
// would answer for the backend: no retry, breaker, ejection or limit.
func newTransparentRouter(tb testing.TB, node, method string) *router.Router {
	reg, err := registry.NewStatic(&registry.Node{Service: "svc", Address: node})
	if err != nil {
		tb.Fatal(err)
	}
	tr := upstream.NewLeanTransport(upstream.TransportOptions{})
	tb.Cleanup(tr.CloseIdleConnections)
	client := upstream.New(reg, upstream.WithTransport(tr), upstream.WithMaxRetries(0),
		upstream.WithBreakers(nil), upstream.WithEjector(nil), upstream.WithLimits(nil))
	rt, err := router.New([]router.Route{{Method: method, Path: "/t", Service: "svc", Budget: policy}}, client, router.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	return rt
}
