package main

import (
	"strings"
	"testing"

	"github.com/sluicehq/sluice/router"
)

// TestServerLogIsSampledByKind: the servers' error lines of one kind, each
// naming another client (a scanner's failed TLS handshakes), are let
// through a few a second, not one per connection; another kind is logged
// on its own budget.
func TestServerLogIsSampledByKind(t *testing.T) {
	logger, logs := newLogger()
	l := serverLog(logger)
	for i := range 200 {
		l.Printf("http: TLS handshake error from 192.0.2.%d:%d: EOF", i%250, 40000+i)
	}
	l.Printf("server: accept error: too many open files; retrying in 5ms")
	got := strings.Count(logs.String(), "TLS handshake error")
	// Two windows at most, should the loop cross a second's end.
	if got < router.LogLinesPerSecond || got > 2*router.LogLinesPerSecond {
		t.Errorf("%d of 200 handshake errors logged, want %d to %d", got, router.LogLinesPerSecond, 2*router.LogLinesPerSecond)
	}
	if !strings.Contains(logs.String(), "accept error") {
		t.Error("a line of another kind was dropped with them")
	}
}

func TestServerLogKind(t *testing.T) {
	for line, want := range map[string]string{
		"http: TLS handshake error from 192.0.2.1:4711: EOF":                    "http: TLS handshake error",
		"http2: server: error reading preface from client 192.0.2.1:1: timeout": "http2: server: error reading preface",
		"server: accept error: x":                                               "server: accept error: x",
		"server: accept error: too many open files; retrying in 40ms":           "server: accept error: too many open files; retrying in #ms",
		"http2: received GOAWAY [FrameHeader GOAWAY len=9], starting graceful":  "http2: received GOAWAY ",
		`server: invalid Content-Length of "12x"`:                               "server: invalid Content-Length of ",
		"http: panic serving [::1]:4711: boom\ngoroutine 7 [running]:":          "http: panic serving ",
		"http: panic serving 192.0.2.1:4711: boom\ngoroutine 7 [running]:":      "http: panic serving #.#.#.#:#: boom\ngoroutine # ",
	} {
		if got := serverLogKind(line); got != want {
			t.Errorf("serverLogKind(%q) = %q, want %q", line, got, want)
		}
	}
}
