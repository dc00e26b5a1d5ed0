package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/internal/problem"
)

func TestRunPrintDefault(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if err := run(context.Background(), []string{"-print-default"}, &stdout, &stderr, nil); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(stdout.Bytes(), config.DefaultYAML()) {
		t.Errorf("-print-default printed %d bytes, not the embedded default.yaml", stdout.Len())
	}
	if stderr.Len() != 0 {
		t.Errorf("stderr: %s", stderr.String())
	}
}

func TestRunRefusesBadSetup(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.yaml")
	bad := filepath.Join(dir, "bad.yaml")
	writeFile(t, bad, "routes:\n  - {path: /a, service: nope}\n")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	inUse := filepath.Join(dir, "in-use.yaml")
	writeFile(t, inUse, "listeners: [{address: \""+busy.Addr().String()+"\"}]\n")

	tests := []struct {
		name string
		args []string
		want string // in the error
	}{
		{"missing config file", []string{"-config", missing}, missing},
		{"config with errors", []string{"-config", bad}, bad + ":2:"},
		{"bad log level", []string{"-log-level", "loud"}, "-log-level"},
		{"unknown flag", []string{"-frobnicate"}, "frobnicate"},
		{"address in use", []string{"-config", inUse}, busy.Addr().String()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := run(context.Background(), tt.args, &stdout, &stderr, nil)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("run(%q) = %v, want an error mentioning %q", tt.args, err, tt.want)
			}
		})
	}
}

// TestRunServesReloadsAndDrains runs the whole command on loopback ports
// chosen at listen time, which it logs; every step waits on a log line. It
// runs with each server the route listener can use, and tells which one
// answered by the answer to an HTTP/2 preface: the gateway's server answers
// 505, net/http's passes it to the handler. Both answer their own errors
// with problem bodies, and neither serves a request smuggled after one
// with both Content-Length and Transfer-Encoding.
func TestRunServesReloadsAndDrains(t *testing.T) {
	for _, server := range []string{
		"", // the default: the gateway's server
		config.ServerNetHTTP,
	} {
		t.Run("server="+server, func(t *testing.T) { testRunServesReloadsAndDrains(t, server) })
	}
}

func testRunServesReloadsAndDrains(t *testing.T, server string) {
	backend := echoBackend(t)
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	withServer := func(text string) string {
		if server == "" {
			return text
		}
		return strings.Replace(text, `listeners: [{address: "127.0.0.1:0"}]`,
			`listeners: [{address: "127.0.0.1:0", server: "`+server+`"}]`, 1)
	}
	writeFile(t, path, withServer(configText(backend, "  - {path: /v1, service: svc}\n")))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stdout := newLogBuffer()
	reload := make(chan os.Signal, 1)
	errc := make(chan error, 1)
	go func() { errc <- run(ctx, []string{"-config", path}, stdout, io.Discard, reload) }()

	stdout.waitFor(t, "gateway ready", 1)
	listening := stdout.waitFor(t, "listening", 2)
	front, admin := "http://"+listening[0]["address"].(string), "http://"+listening[1]["address"].(string)
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	fetch := func(url string) (int, string) {
		t.Helper()
		resp, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	if code, body := fetch(front + "/v1"); code != 200 || body != "/v1" {
		t.Errorf("/v1 = %d %q", code, body)
	}
	if code, _ := fetch(front + "/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	if code, body := fetch(admin + "/metrics"); code != 200 || !strings.Contains(body, `sluice_requests_total{code="200",method="GET",route="GET /v1"}`) {
		t.Errorf("admin /metrics = %d, without the request count", code)
	}

	// raw sends request bytes on a new connection and returns the first
	// answer, and whether the server then closed the connection.
	raw := func(request string) (*http.Response, bool) {
		t.Helper()
		conn, err := net.Dial("tcp", listening[0]["address"].(string))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(waitLimit))
		fmt.Fprint(conn, request)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
		_, err = br.Peek(1)
		return resp, err != nil && !errors.Is(err, os.ErrDeadlineExceeded)
	}
	resp, _ := raw("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
	if lean := resp.StatusCode == http.StatusHTTPVersionNotSupported; lean != (server == "") {
		t.Errorf("an HTTP/2 preface = %d: the wrong server answered", resp.StatusCode)
	}
	resp, _ = raw("GET /v1 HTTP/1.1\r\n\r\n")
	if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != problem.ContentType {
		t.Errorf("a request without Host = %d %q, want 400 %q", resp.StatusCode, resp.Header.Get("Content-Type"), problem.ContentType)
	}
	resp, closed := raw("POST /v1 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n" +
		"GET /v1/smuggled HTTP/1.1\r\nHost: x\r\n\r\n")
	if !closed || server == "" && resp.StatusCode != 400 {
		t.Errorf("a request with Content-Length and Transfer-Encoding = %d, connection closed %v; want it closed (and 400 from the gateway's server)", resp.StatusCode, closed)
	}

	writeFile(t, path, withServer(configText(backend, "  - {path: /v2, service: svc}\n")))
	reload <- syscall.SIGHUP
	stdout.waitFor(t, "configuration reloaded", 1)
	if code, body := fetch(front + "/v2"); code != 200 || body != "/v2" {
		t.Errorf("after reload /v2 = %d %q", code, body)
	}

	cancel()
	select {
	case err := <-errc:
		if err != nil {
			t.Errorf("run = %v, want a clean drain", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("run did not return after its context ended")
	}
	if stopped, _ := stdout.find("stopped"); len(stopped) != 1 {
		t.Errorf("no \"stopped\" line; log:\n%s", stdout.String())
	}
}
