package main

import (
	"bufio"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/sluicehq/sluice/router"
)

// A client that sends an h2c listener GOAWAY frames, each of another
// length (the server logs every GOAWAY with an error code, naming its
// length), writes a server log line per frame unless the lines are
// sampled by a kind that leaves the frame's figures out: the listeners'
// lines are "sampled the same way, by their text up to the client's
// address" (docs/observability.md), and one connection here sends 200.
func TestGoAwayFloodIsSampled(t *testing.T) {
	tg := startServing(t, t.TempDir(), "  - {address: 127.0.0.1:0, h2c: true}\n", echoBackend(t), time.Hour)
	c, err := net.Dial("tcp", tg.addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(waitLimit))
	bw := bufio.NewWriter(c)
	io.WriteString(bw, http2.ClientPreface)
	fr := http2.NewFramer(bw, c)
	fr.WriteSettings()
	const frames = 200
	for i := range frames {
		fr.WriteGoAway(0, http2.ErrCodeProtocol, []byte(strings.Repeat("x", i)))
	}
	// The server handles a connection's frames in order: the PING's ack
	// comes after every GOAWAY was handled, and logged.
	fr.WritePing(false, [8]byte{1, 2, 3, 4, 5, 6, 7, 8})
	if err := bw.Flush(); err != nil {
		t.Fatal(err)
	}
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("no PING ack: %v", err)
		}
		if p, ok := f.(*http2.PingFrame); ok && p.IsAck() {
			break
		}
	}
	got := strings.Count(tg.logs.String(), "received GOAWAY")
	// Two windows at most, should the frames cross a second's end.
	if got > 2*router.LogLinesPerSecond {
		t.Errorf("%d of %d GOAWAY frames logged a line; want at most %d", got, frames, 2*router.LogLinesPerSecond)
	}
}
