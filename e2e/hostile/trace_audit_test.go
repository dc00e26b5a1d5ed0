package hostile

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// A public client's trace context, in whatever format, must not reach the
// backends (tracing.client_context: link, the default): a backend whose
// tracer reads B3, Jaeger's, Datadog's or another format would let the
// client choose its trace, force its sampling (flooding the trace store)
// or join someone else's trace, as W3C's traceparent would. With
// client_context continue, the clients are trusted and every field passes.

// clientTraceFields are the trace context fields a client sends, as raw
// header lines in the spellings a client may use (any case; '_' for '-',
// which CGI, WSGI and Rack backends read as '-'), each with a value that
// forces sampling or sets baggage; name is how the backend looks it up.
var clientTraceFields = []struct{ name, line string }{
	{"Traceparent", "traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
	{"Tracestate", "tracestate: vendor=client"},
	{"Baggage", "baggage: tenant=victim"},
	{"B3", "b3: 80f198ee56343ba864fe8b2a57d3eff7-e457b5a2e4d86bd1-1"},
	{"X-B3-Traceid", "X-B3-TraceId: 80f198ee56343ba864fe8b2a57d3eff7"},
	{"X-B3-Spanid", "x-b3-spanid: e457b5a2e4d86bd1"},
	{"X-B3-Parentspanid", "X-B3-ParentSpanId: 05e3ac9a4f6e3b90"},
	{"X-B3-Sampled", "X-B3-Sampled: 1"},
	{"X-B3-Flags", "X-B3-Flags: 1"},
	{"Uber-Trace-Id", "uber-trace-id: 80f198ee56343ba864fe8b2a57d3eff7:e457b5a2e4d86bd1:0:1"},
	{"Uberctx-Tenant", "uberctx-tenant: victim"},
	{"Jaeger-Debug-Id", "jaeger-debug-id: flood"},
	{"Ot-Tracer-Traceid", "ot-tracer-traceid: 80f198ee56343ba8"},
	{"Ot-Tracer-Spanid", "ot-tracer-spanid: e457b5a2e4d86bd1"},
	{"Ot-Tracer-Sampled", "ot-tracer-sampled: true"},
	{"Ot-Baggage-Tenant", "ot-baggage-tenant: victim"},
	{"X-Datadog-Trace-Id", "x-datadog-trace-id: 1234567890"},
	{"X-Datadog-Parent-Id", "x-datadog-parent-id: 987654321"},
	{"X-Datadog-Sampling-Priority", "x-datadog-sampling-priority: 2"},
	{"X-Datadog-Origin", "x-datadog-origin: synthetics"},
	{"X-Datadog-Tags", "x-datadog-tags: _dd.p.dm=-4"},
	{"X-Amzn-Trace-Id", "X-Amzn-Trace-Id: Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"},
	{"X-Cloud-Trace-Context", "X-Cloud-Trace-Context: 105445aa7843bc8bf206b12000100000/1;o=1"},
	{"Grpc-Trace-Bin", "grpc-trace-bin: AABAgICAgICAgICAgICAgICAAUAgICAgICAgAIB"},
	{"X_B3_SAMPLED", "X_B3_SAMPLED: 1"},
}

// traceRoutes are the route kinds whose requests the audit sends, by the
// path under /tr/ and the route's YAML fields past its path and service:
// each kind forwards its request along a path of its own in the router.
var traceRoutes = []struct{ kind, path, extra string }{
	{"http", "/tr/http/*", ""},
	{"rpc", "/tr/rpc/{name}", ", endpoint: Trace.Probe"},
	{"stream", "/tr/stream/*", ", stream: {idle_timeout: 5s, max_lifetime: 10s}"},
	{"upgrade", "/tr/upgrade/*", ""},
}

// traceBackend records the header of each request it reads, by the
// request's X-Probe field, and answers a WebSocket handshake with a 101
// (then closes), anything else with 200.
type traceBackend struct {
	*upBackend
	seenMu sync.Mutex
	seen   map[string]http.Header
}

func newTraceBackend(t *testing.T) *traceBackend {
	t.Helper()
	b := &traceBackend{seen: map[string]http.Header{}}
	b.upBackend = newUpBackend(t, b.answer)
	return b
}

func (b *traceBackend) answer(c net.Conn, req *http.Request) (switched, keep bool) {
	b.seenMu.Lock()
	b.seen[req.Header.Get("X-Probe")] = req.Header
	b.seenMu.Unlock()
	if req.Header.Get("Upgrade") != "" {
		_, _ = io.WriteString(c, wsSwitch)
		return false, false
	}
	_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
	return false, err == nil
}

func (b *traceBackend) header(probe string) http.Header {
	b.seenMu.Lock()
	defer b.seenMu.Unlock()
	return b.seen[probe]
}

// sendTraced sends a request of kind, with every field of
// clientTraceFields and X-Probe: probe, to the route listener addr, and
// checks that the backend answered it.
func sendTraced(t *testing.T, addr, kind, probe string) {
	t.Helper()
	raw := "GET /tr/" + kind + "/x HTTP/1.1\r\nHost: h\r\nX-Probe: " + probe + "\r\n"
	if kind == "upgrade" {
		raw += "Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" +
			"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
	} else {
		raw += "Connection: close\r\n"
	}
	for _, f := range clientTraceFields {
		raw += f.line + "\r\n"
	}
	c := dial(t, addr)
	_ = c.SetDeadline(time.Now().Add(hangLimit))
	if _, err := io.WriteString(c, raw+"\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: http.MethodGet})
	if err != nil {
		t.Fatalf("%s: no answer: %v", kind, err)
	}
	resp.Body.Close()
	want := http.StatusOK
	if kind == "upgrade" {
		want = http.StatusSwitchingProtocols
	}
	if resp.StatusCode != want {
		t.Fatalf("%s: status %d, want %d", kind, resp.StatusCode, want)
	}
}

// TestClientTraceContextOfEveryFormat: on each listener server, with
// tracing off and on (client_context link, the default) a backend gets
// none of a client's trace context fields, in any format, on any kind of
// route; with client_context continue it gets them all.
func TestClientTraceContextOfEveryFormat(t *testing.T) {
	configs := []struct{ name, tracing string }{
		{"off", ""},
		// Sampling nothing, the gateway exports nothing: no collector.
		{"on", "tracing: {enabled: true, endpoint: \"127.0.0.1:1\", sample_ratio: 0}\n"},
		{"continue", "tracing: {client_context: continue}\n"},
	}
	onEachServer(t, func(t *testing.T, srv listenerServer) {
		for _, cfg := range configs {
			t.Run(cfg.name, func(t *testing.T) {
				backend := newTraceBackend(t)
				var b strings.Builder
				gatewayYAML(&b, srv.config, time.Second)
				fmt.Fprintf(&b, "registry:\n  kind: static\n  static:\n    - {service: tr, id: tr-1, address: %q}\n", backend.addr())
				b.WriteString(cfg.tracing)
				b.WriteString("defaults:\n  budget: {timeout: 5s, max: 5s, min: 1ms}\nroutes:\n")
				for _, r := range traceRoutes {
					fmt.Fprintf(&b, "  - {name: tr-%s, method: GET, path: %q, service: tr%s}\n", r.kind, r.path, r.extra)
				}
				_, addrs := startWith(t, b.String())
				for _, r := range traceRoutes {
					t.Run(r.kind, func(t *testing.T) {
						defer func() { tally.add(srv.name, "trace", cfg.name+"/"+r.kind, t.Failed()) }()
						probe := cfg.name + "-" + r.kind
						sendTraced(t, addrs[0], r.kind, probe)
						h := backend.header(probe)
						if h == nil {
							t.Fatal("the backend got no request")
						}
						for _, f := range clientTraceFields {
							got := h.Values(f.name)
							value := strings.TrimSpace(f.line[strings.IndexByte(f.line, ':')+1:])
							switch {
							case cfg.name == "continue":
								if len(got) != 1 || got[0] != value {
									t.Errorf("continue: the backend got %s %q, want the client's %q", f.name, got, value)
								}
							case cfg.name == "on" && f.name == "Traceparent":
								// The gateway's own, in a trace of its own.
								if len(got) != 1 || len(got[0]) != 55 || got[0][3:35] == value[3:35] {
									t.Errorf("the backend got traceparent %q, want one of the gateway's trace", got)
								}
							case len(got) != 0:
								t.Errorf("the backend got the client's %s %q", f.name, got)
							}
						}
					})
				}
			})
		}
	})
}
