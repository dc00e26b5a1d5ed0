package main

import (
	"bufio"
	"context"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/server"
)

// listenerKinds are the two servers a listener can run.
var listenerKinds = []string{config.ServerSluice, config.ServerNetHTTP}

// startGateway builds the gateway of cfg and serves its handler chain on a
// loopback listener run by the server kind names; it returns the address.
func startGateway(t *testing.T, cfg *config.Config, logger *slog.Logger, kind string) (*gateway, string) {
	t.Helper()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	return g, serveHandler(t, g.handler(), kind)
}

// serveHandler serves h on a loopback listener with the server kind names.
func serveHandler(t *testing.T, h http.Handler, kind string) string {
	t.Helper()
	if kind == config.ServerNetHTTP {
		srv := httptest.NewServer(h)
		t.Cleanup(srv.Close)
		return srv.Listener.Addr().String()
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &server.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx) // gives up on connections a test left open
	})
	return ln.Addr().String()
}

// rawBackend is a backend on a bare TCP listener: each connection's first
// request header is read, then answer writes whatever it likes and the
// connection is closed.
func rawBackend(t *testing.T, answer func(c net.Conn, r *http.Request)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(waitLimit))
				r, err := http.ReadRequest(bufio.NewReader(c))
				if err != nil {
					return
				}
				answer(c, r)
			}()
		}
	}()
	return ln.Addr().String()
}

// dial opens a raw connection to addr, closed at the test's end, with
// waitLimit as its deadline.
func dial(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(waitLimit))
	return c
}

// freshClient is an HTTP client with a connection of its own per request,
// so that no request is retried on a kept-alive connection.
func freshClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: waitLimit}
}
