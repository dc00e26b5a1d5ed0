package upstream_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/selector"
	"github.com/sluicehq/sluice/upstream"
)

// hangingNode returns a node whose connects hang: a listener with a full
// accept queue (backlog 0 holds one connection, which the test makes) that
// never accepts, so that Linux drops further SYNs. It skips the test where
// a connect does not hang so.
func hangingNode(t *testing.T, id string) *registry.Node {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "listener")
	t.Cleanup(func() { f.Close() })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	for range 4 {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
			return &registry.Node{Service: service, ID: id, Address: addr}
		}
		if err != nil {
			t.Skipf("a connect to a full accept queue fails (%v) instead of hanging", err)
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("a connect to a full accept queue does not hang here")
	return nil
}

// TestAConnectThatHangsIsRetriedForAnyMethod: a POST (never cut by a
// derived per-try timeout) whose first attempt goes to a node whose
// connect hangs is given up after DefaultConnectTimeout, not at the end of
// its budget, and sent to another node, as a refused one is: nothing was
// sent. Unlike a refusal, it counts as a fault of the node: with one fault
// to eject, the node is ejected. Before the connect timeout the call
// ended with the budget, 504, and no fault counted.
func TestAConnectThatHangsIsRetriedForAnyMethod(t *testing.T) {
	for _, tr := range []struct {
		name string
		opts func() []upstream.Option
	}{
		{"lean transport", func() []upstream.Option { return nil }},
		{"net/http transport", func() []upstream.Option {
			tr := upstream.NewTransport()
			t.Cleanup(tr.CloseIdleConnections)
			return []upstream.Option{upstream.WithTransport(tr)}
		}},
	} {
		t.Run(tr.name, func(t *testing.T) {
			hung := hangingNode(t, "hung")
			good := newBackend(t, "good", nil)
			frozen := time.Unix(1000, 0)
			ej := selector.NewEjector(selector.EjectSettings{ConsecutiveFaults: 1, Now: func() time.Time { return frozen }})
			c := upstream.New(staticOf(t, hung, good.node()), append(tr.opts(),
				upstream.WithStrategy(inOrder), upstream.WithEjector(ej))...)
			// A budget far above the connect timeout: the hang guard.
			ctx, cancel := context.WithTimeout(context.Background(), 4*upstream.DefaultConnectTimeout)
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+service+"/orders", strings.NewReader("one order"))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatalf("POST with the first node's connect hanging: %v, want the other node's answer", err)
			}
			if body := readAll(t, resp); resp.StatusCode != http.StatusOK || body != "good" {
				t.Fatalf("POST answered %d %q, want 200 from good", resp.StatusCode, body)
			}
			if seen := good.seen(); len(seen) != 1 || seen[0].Body != "one order" {
				t.Errorf("good saw %+v, want the POST once, with its body", seen)
			}
			if ejs := ej.Ejections(); len(ejs) != 1 || ejs[0].Node != hung.Key() {
				t.Errorf("ejections %+v, want the hung node's: a connect that times out is its fault", ejs)
			}
		})
	}
}

// TestConnectTimeoutIsSet: TransportOptions.ConnectTimeout bounds the
// connect of both transports (a connect to a hung node fails with
// ErrConnectTimeout after it, not at the request's deadline); a negative
// one leaves the connect to the request's deadline.
func TestConnectTimeoutIsSet(t *testing.T) {
	node := hangingNode(t, "hung")
	roundTrip := func(rt http.RoundTripper, deadline time.Duration) error {
		ctx, cancel := context.WithTimeout(context.Background(), deadline)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+node.Address+"/", nil)
		resp, err := rt.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	o := upstream.TransportOptions{ConnectTimeout: 100 * time.Millisecond}
	for name, rt := range map[string]http.RoundTripper{"lean": upstream.NewLeanTransport(o), "net/http": upstream.NewTransportWith(o)} {
		if err := roundTrip(rt, time.Minute); !errors.Is(err, upstream.ErrConnectTimeout) {
			t.Errorf("%s: %v, want ErrConnectTimeout", name, err)
		}
	}
	none := upstream.NewTransportWith(upstream.TransportOptions{ConnectTimeout: -1})
	if err := roundTrip(none, 300*time.Millisecond); err == nil || errors.Is(err, upstream.ErrConnectTimeout) {
		t.Errorf("no connect timeout: %v, want the request's deadline", err)
	}
}
