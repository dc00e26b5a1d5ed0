package upstream_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/upstream"
)

// closeCounter is an answer body that counts its closes.
type closeCounter struct {
	io.Reader
	closed *atomic.Int64
}

func (b closeCounter) Close() error { b.closed.Add(1); return nil }

// answering returns a transport whose every attempt gets status with
// header (nil for none), and a body that counts its closes.
func answering(status int, header http.Header, closed *atomic.Int64) upstream.Option {
	return upstream.WithTransport(roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: status, Header: header.Clone(),
			Body: closeCounter{http.NoBody, closed}, Request: r}, nil
	}))
}

// switched is the header of a 101 that switches to proto.
func switched(proto string) http.Header {
	return http.Header{"Connection": {"Upgrade"}, "Upgrade": {proto}}
}

// TestUnfitAnswersFailTheAttempt: an answer no caller can take (a status
// below 100, which http.ReadResponse reads from "000" and WriteHeader
// panics on; or 101 Switching Protocols to a request that asked for no
// upgrade, which would tell the gateway's client that its connection now
// speaks another protocol) is the node's broken answer. The call returns an
// error saying the request was sent, never the answer, each attempt's
// answer is closed, and the fault counts against the service's breaker.
func TestUnfitAnswersFailTheAttempt(t *testing.T) {
	for _, status := range []int{0, 99, 1000, http.StatusSwitchingProtocols} {
		var closed atomic.Int64
		c := upstream.New(staticOf(t,
			&registry.Node{Service: service, Address: "127.0.0.1:1"},
			&registry.Node{Service: service, Address: "127.0.0.1:2"}), answering(status, switched("websocket"), &closed))
		resp, err := c.Do(get(t, context.Background(), "/x"))
		if err == nil {
			resp.Body.Close()
			t.Fatalf("status %d: passed on as an answer", status)
		}
		var ae *upstream.AttemptError
		if !errors.As(err, &ae) || !ae.Sent {
			t.Fatalf("status %d: err %v, want an AttemptError saying the request was sent", status, err)
		}
		if closed.Load() != int64(ae.Attempts) {
			t.Errorf("status %d: %d answers closed of %d attempts", status, closed.Load(), ae.Attempts)
		}
		faults := 0
		for _, st := range c.Breakers().States() {
			faults += st.Faults
		}
		if faults == 0 {
			t.Errorf("status %d: no fault counted against the service", status)
		}
	}
}

// TestSwitchingProtocolsAnswersAnUpgrade: a 101 to a request that asked to
// switch protocols is the answer it asked for when it switches to the
// protocol asked, in any case; a 101 to another protocol, or to none, is
// the node's broken answer.
func TestSwitchingProtocolsAnswersAnUpgrade(t *testing.T) {
	for _, tt := range []struct {
		name   string
		header http.Header
		ok     bool
	}{
		{"the protocol asked", switched("websocket"), true},
		{"the protocol asked, in another case", switched("WebSocket"), true},
		{"another protocol", switched("h2c"), false},
		{"no Upgrade field", http.Header{"Connection": {"Upgrade"}}, false},
		{"no upgrade in Connection", http.Header{"Upgrade": {"websocket"}}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var closed atomic.Int64
			c := upstream.New(staticOf(t, &registry.Node{Service: service, Address: "127.0.0.1:1"}),
				answering(http.StatusSwitchingProtocols, tt.header, &closed))
			req := get(t, context.Background(), "/ws")
			req.Header.Set("Connection", "Upgrade")
			req.Header.Set("Upgrade", "websocket")
			resp, err := c.Do(req)
			if err == nil {
				resp.Body.Close()
			}
			switch {
			case tt.ok && err != nil:
				t.Fatalf("an upgrade's 101 failed: %v", err)
			case tt.ok && resp.StatusCode != http.StatusSwitchingProtocols:
				t.Fatalf("status %d, want 101", resp.StatusCode)
			case !tt.ok && err == nil:
				t.Fatalf("a 101 with %v was taken as the answer", tt.header)
			}
		})
	}
}
