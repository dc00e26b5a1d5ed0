package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
)

// A body over 64 KiB (router.MaxReplayBody) is streamed: its request has
// no GetBody, and the upstream client did not retry it at all, not even
// when the attempt provably sent nothing (the node refused the
// connection), where docs/configuration.md promises a retry ("its request
// is retried only when it provably never left") and a body within 64 KiB
// gets one. One node down among two, and every large upload that picked it
// first was answered 502 not-processed: 8 of 12 gateways' first uploads in
// a run. Now a body no attempt read a byte of goes to the next node as it
// is. Each trial is a gateway of its own, so that its first pick knows
// nothing of the refusing node; trials go on until 3 took the refusing node
// first.
func TestStreamedBodyRetriedWhenNeverSent(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusing := ln.Addr().String()
	ln.Close()
	const size = 1 << 20
	live := rawNode(t, func(c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			r, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			n, _ := io.Copy(io.Discard, r.Body)
			body := fmt.Sprint(n)
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		}
	})
	retried := 0
	for trial := 0; retried < 3 && trial < 200; trial++ {
		kind := listenerKinds[trial%2]
		cfg, _ := loadFile(t, "listeners: [{address: \"127.0.0.1:0\"}]\nregistry:\n  static:\n"+
			"    - {service: svc, address: \""+refusing+"\"}\n    - {service: svc, address: \""+live+"\"}\n"+
			"routes:\n  - {method: POST, path: /up, service: svc}\n")
		logger, logs := newLogger()
		_, addr := startGateway(t, cfg, logger, kind)
		resp, err := freshClient().Post("http://"+addr+"/up", "application/octet-stream", bytes.NewReader(make([]byte, size)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != fmt.Sprint(size) {
			t.Fatalf("%s, trial %d: %d %.90s; want 200 and the whole body at the live node; log:\n%s", kind, trial, resp.StatusCode, b, logs.String())
		}
		if strings.Contains(logs.String(), `"attempts":2`) {
			retried++
		}
	}
	if retried < 3 {
		t.Fatalf("the refusing node was tried first in %d trials of 200", retried)
	}
}
