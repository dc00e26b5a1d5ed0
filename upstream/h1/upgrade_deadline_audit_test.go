package h1

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestUpgradeUnderADeadlineKeepsTheConn: a 101's body stays the writable,
// half-closable connection when the round trip has a deadline of its own
// (RoundTripBy, RoundTripAt), as it is from RoundTrip. The upstream client
// sends a gateway's handshake that way once a per-try timeout is derived
// for its service (after its 20th answer); its 101 then came back as a
// read-only body and the gateway answered every later handshake 502 ("the
// backend's 101 answer came without a connection to write to").
func TestUpgradeUnderADeadlineKeepsTheConn(t *testing.T) {
	url, _ := rawServer(t, func(nc net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n")
		b, _ := io.ReadAll(br) // until the caller's half-close
		io.WriteString(nc, "got "+string(b))
	})
	tr := &Transport{}
	defer tr.CloseIdleConnections()
	for _, trip := range []struct {
		name string
		do   func(*http.Request) (*http.Response, error)
	}{
		{"RoundTripBy", func(r *http.Request) (*http.Response, error) {
			return tr.RoundTripBy(r, time.Now().Add(time.Minute))
		}},
		{"RoundTripAt", func(r *http.Request) (*http.Response, error) {
			return tr.RoundTripAt(r, strings.TrimPrefix(url, "http://"), time.Now().Add(time.Minute))
		}},
	} {
		req := mustReq(t, "GET", url, "")
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "x")
		resp, err := trip.do(req)
		if err != nil {
			t.Fatalf("%s: %v", trip.name, err)
		}
		rw, ok := resp.Body.(io.ReadWriter)
		cw, ok2 := resp.Body.(interface{ CloseWrite() error })
		if resp.StatusCode != http.StatusSwitchingProtocols || !ok || !ok2 {
			resp.Body.Close()
			t.Errorf("%s: answer %d with a body %T, want a writable, half-closable one", trip.name, resp.StatusCode, resp.Body)
			continue
		}
		io.WriteString(rw, "hi")
		if err := cw.CloseWrite(); err != nil {
			t.Errorf("%s: CloseWrite: %v", trip.name, err)
		}
		if b, err := io.ReadAll(rw); string(b) != "got hi" || err != nil {
			t.Errorf("%s: read %q, %v", trip.name, b, err)
		}
		resp.Body.Close()
	}
}

// TestSwitchedConnLeavesThePool: a connection a 101 handed to the caller
// no longer counts against MaxConnsPerHost, as with net/http's Transport:
// with the host's one connection switched (a WebSocket, open for hours), a
// plain GET to the host got no connection until its deadline. Closing the
// switched connection later frees no second slot.
func TestSwitchedConnLeavesThePool(t *testing.T) {
	url, _ := rawServer(t, func(nc net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if req.Header.Get("Upgrade") != "" {
				io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n")
				io.Copy(io.Discard, br)
				return
			}
			io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	tr := &Transport{MaxConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	up := mustReq(t, "GET", url, "")
	up.Header.Set("Connection", "Upgrade")
	up.Header.Set("Upgrade", "x")
	resp, err := tr.RoundTrip(up)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("the upgrade: %v, %v", resp, err)
	}
	defer resp.Body.Close()
	get := func(what string) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		r, err := tr.RoundTrip(mustReq(t, "GET", url, "").WithContext(ctx))
		if err != nil {
			t.Fatalf("%s: a GET with the host's one connection switched: %v", what, err)
		}
		io.Copy(io.Discard, r.Body)
		r.Body.Close()
	}
	get("tunnel open")
	resp.Body.Close()
	p := tr.pool(strings.TrimPrefix(url, "http://"))
	p.mu.Lock()
	total := p.total
	p.mu.Unlock()
	if total > 1 {
		t.Errorf("after the tunnel closed the pool counts %d connections, over its limit of 1", total)
	}
	get("tunnel closed")
}
