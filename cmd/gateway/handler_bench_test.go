package main

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/debug"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/internal/leanctx"
	"github.com/sluicehq/sluice/middleware"
)

// BenchmarkGatewayHandler prices one proxied request through the whole
// handler that cmd/gateway builds for a listener, on the configuration of
// bench/load.sh's "sluice" target (the default policies: edge budget,
// retries, retry budget, breaker, ejection, concurrency limits, least-loaded
// selection, request and upstream metrics, the access log as JSON): the
// middleware chain, the reserved paths, the router and the upstream client
// over its lean transport, to a backend on loopback that answers every GET
// with the greeter's canned bytes and allocates nothing. The request comes
// as package server hands it over, under a cancellable context; the
// server's own work (parsing, the context, writing the answer) is not
// counted. allocs/op and most of ns/op are the gateway's handler's: this is
// the yardstick of the handler path's CPU and allocations (bench/README.md).
func BenchmarkGatewayHandler(b *testing.B) {
	if os.Getenv("GOGC") == "" { // as the gateway runs (gc.go)
		defer debug.SetGCPercent(debug.SetGCPercent(defaultGCPercent))
	}
	backend := cannedBackend(b)
	cfg, err := config.Parse("bench.yaml", []byte(`listeners:
  - address: 127.0.0.1:0
admin:
  address: 127.0.0.1:0
registry:
  kind: static
  static:
    - {service: greeter, address: "`+backend+`", version: 1.0.0}
routes:
  - name: hello
    method: GET
    path: /hello/*
    service: greeter
  - name: greet
    method: GET
    path: /greet/{name}
    service: greeter
    endpoint: Greeter.Hello
`))
	if err != nil {
		b.Fatal(err)
	}
	g, err := newGateway(cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	if err != nil {
		b.Fatal(err)
	}
	defer g.resilience.transport.CloseIdleConnections()
	g.accessLogger = slog.New(middleware.NewJSONHandler(io.Discard, nil)) // as serve makes it
	h := g.handler()

	// The request as the lean server passes it: its own cancellable lean
	// context (package leanctx, as package server makes it), made anew for
	// each request as the server makes it, canceled at the request's end,
	// but in the same memory, so that the server's allocations are not
	// counted. A context made once would keep RequestID's values
	// (leanctx.Extend) from its first request.
	ctx := new(leanctx.Ctx)
	ctx.Init(context.Background(), time.Time{})
	r := httptest.NewRequest(http.MethodGet, "http://gateway.test/hello/bench", nil).WithContext(ctx)
	r.RemoteAddr = "127.0.0.1:40000"
	r.Header.Set("User-Agent", "wrk")
	r.Header.Set("Accept", "*/*")
	client := r.Header.Clone()
	w := &discardWriter{}
	b.ReportAllocs()
	for b.Loop() {
		w.h, w.status = nil, 0
		// The request id, the forwarded fields and the budget sent are
		// set on the request's own header (RequestID, the router's
		// forward): the client's fields come back, in the same map.
		clear(r.Header)
		maps.Copy(r.Header, client)
		h.ServeHTTP(w, r)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
		ctx.Cancel()
		*ctx = leanctx.Ctx{}
		ctx.Init(context.Background(), time.Time{})
	}
}

// discardWriter is a ResponseWriter that keeps the status and nothing else.
// As the lean server's writer, it makes its header on demand or adopts the
// one it is handed (AdoptHeader: the router's answer, with the backend's),
// and it sets write deadlines and flushes, doing nothing.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header {
	if w.h == nil {
		w.h = make(http.Header)
	}
	return w.h
}

func (w *discardWriter) AdoptHeader(h http.Header) bool {
	if w.h != nil || w.status != 0 {
		return false
	}
	w.h = h
	return true
}

func (w *discardWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
}

func (w *discardWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return len(p), nil
}

func (w *discardWriter) SetWriteDeadline(time.Time) error { return nil }

func (w *discardWriter) FlushError() error { return nil }

// cannedBackend listens on loopback and answers every request (a GET:
// nothing after its empty line) with the bytes the greeter answers a
// pass-through GET with, allocating nothing per request. It returns its
// address; it stops with the benchmark.
func cannedBackend(b *testing.B) string {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	answer := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" +
		"Date: Thu, 26 Nov 2026 12:00:00 GMT\r\nContent-Length: 27\r\n\r\n" +
		`{"message":"Hello, bench!"}`)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				br := bufio.NewReader(nc)
				for {
					for { // a GET ends at its empty line
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(line) <= 2 {
							break
						}
					}
					if _, err := nc.Write(answer); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}
