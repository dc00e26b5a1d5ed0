package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sluicehq/sluice/budget"
)

// sseBackend serves events on every request: n of them (forever when n is
// negative), every pace, then ends the answer; it reports the Sluice-Budget
// field it received on got, and its request's end on ended.
func sseBackend(t *testing.T, n int, pace time.Duration, got chan<- string, ended chan<- struct{}) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if got != nil {
			got <- r.Header.Get(budget.HeaderName)
		}
		if ended != nil {
			defer func() { ended <- struct{}{} }()
		}
		w.Header().Set("Content-Type", "text/event-stream")
		for i := 0; n < 0 || i < n; i++ {
			if _, err := fmt.Fprintf(w, "data: %d\n\n", i); err != nil {
				return
			}
			w.(http.Flusher).Flush()
			select {
			case <-r.Context().Done():
				return
			case <-time.After(pace): // the backend's pace, not a wait for a condition
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// readEvents reads events from body until it ends, and returns how many it
// read and how the body ended (nil for a complete answer).
func readEvents(body io.Reader) (int, error) {
	br := bufio.NewReader(body)
	n := 0
	for {
		line, err := br.ReadString('\n')
		if err == io.EOF && line == "" {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if strings.HasPrefix(line, "data: ") {
			n++
		}
	}
}

// On a stream route, the unary budget does not apply: a stream of 1.5 s on
// a route whose budget is 200 ms and whose idle timeout is 1 s arrives
// whole (each event pushes the idle timeout back), and the backend's budget
// is the stream's maximum lifetime. On a unary route, the same stream is
// cut.
func TestStreamRouteOutlivesTheBudget(t *testing.T) {
	for _, kind := range listenerKinds {
		for _, stream := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/stream=%v", kind, stream), func(t *testing.T) {
				got := make(chan string, 4)
				backend := sseBackend(t, 15, 100*time.Millisecond, got, nil)
				route := "  - {path: /s, service: svc, budget: {timeout: 200ms}}\n"
				if stream {
					route = "  - {path: /s, service: svc, budget: {timeout: 200ms}, stream: {idle_timeout: 1s, max_lifetime: 90s}}\n"
				}
				cfg, _ := loadFile(t, configText(backend, route))
				logger, _ := newLogger()
				_, addr := startGateway(t, cfg, logger, kind)

				resp, err := freshClient().Get("http://" + addr + "/s")
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				n, err := readEvents(resp.Body)
				if !stream {
					if err == nil && n == 15 {
						t.Fatalf("a unary route let a stream outlive its budget of 200ms")
					}
					return
				}
				if err != nil || n != 15 {
					t.Fatalf("read %d events of 15, then %v", n, err)
				}
				h, err := budget.Parse(<-got)
				if err != nil {
					t.Fatal(err)
				}
				if h.Remaining <= 60*time.Second || h.Remaining > 90*time.Second {
					t.Errorf("the backend's budget is %v, want the max lifetime of 90s, less what was spent", h.Remaining)
				}
			})
		}
	}
}

// A stream with no byte either way for its idle timeout is ended, after
// its header (the client sees a cut answer, the backend its request's end)
// or before (504); one that stays busy is ended at its maximum lifetime.
func TestStreamRouteIdleAndLifetime(t *testing.T) {
	cases := []struct {
		name   string
		events int // -1: forever
		pace   time.Duration
		stream string
	}{
		{"idle after one event", 1, time.Hour, "{idle_timeout: 300ms, max_lifetime: 60s}"},
		{"busy past its lifetime", -1, 20 * time.Millisecond, "{idle_timeout: 60s, max_lifetime: 500ms}"},
	}
	for _, kind := range listenerKinds {
		for _, tc := range cases {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				ended := make(chan struct{}, 1)
				backend := sseBackend(t, tc.events, tc.pace, nil, ended)
				cfg, _ := loadFile(t, configText(backend, "  - {path: /s, service: svc, stream: "+tc.stream+"}\n"))
				logger, logs := newLogger()
				_, addr := startGateway(t, cfg, logger, kind)

				// The client waits longer than the test does: the cut is
				// the gateway's, before waitLimit, not the client's.
				client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 5 * waitLimit}
				start := time.Now()
				resp, err := client.Get("http://" + addr + "/s")
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				n, err := readEvents(resp.Body)
				if took := time.Since(start); took > waitLimit {
					t.Fatalf("the stream was cut after %v, not by the gateway's bound", took)
				}
				if err == nil {
					t.Fatalf("the stream ended as complete after %d events; want it cut", n)
				}
				if n == 0 {
					t.Fatalf("no event reached the client before the cut: %v", err)
				}
				t.Logf("%d events, then %v", n, err)
				select {
				case <-ended:
				case <-time.After(waitLimit):
					t.Fatal("the backend's request did not end")
				}
				if lines := logs.waitFor(t, "request", 1); lines[0]["aborted"] != true {
					t.Errorf("access log %v, want the request marked aborted", lines[0])
				}
			})
		}
	}
}

// A backend silent past the idle timeout before its header is answered 504
// budget-spent, as a unary request at the end of its budget.
func TestStreamRouteIdleBeforeTheHeader(t *testing.T) {
	for _, kind := range listenerKinds {
		t.Run(kind, func(t *testing.T) {
			release := make(chan struct{})
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-release:
				}
			}))
			t.Cleanup(func() { close(release); srv.Close() })
			cfg, _ := loadFile(t, configText(srv.Listener.Addr().String(),
				"  - {path: /s, service: svc, stream: {idle_timeout: 300ms}}\n"))
			logger, _ := newLogger()
			_, addr := startGateway(t, cfg, logger, kind)
			resp, err := freshClient().Get("http://" + addr + "/s")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusGatewayTimeout || !strings.Contains(string(body), "budget-spent") {
				t.Fatalf("status %d %s, want 504 budget-spent", resp.StatusCode, body)
			}
		})
	}
}

// On a stream route, a client that stops reading is still cut off by the
// write idle timeout, long before the stream's idle timeout or lifetime
// would end it, and the backend's request ends with it.
func TestStreamRouteClientThatStopsReadingIsCutOff(t *testing.T) {
	event := "data: " + strings.Repeat("z", 32<<10) + "\n\n"
	for _, kind := range listenerKinds {
		t.Run(kind, func(t *testing.T) {
			ended := make(chan struct{}, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				defer func() { ended <- struct{}{} }()
				w.Header().Set("Content-Type", "text/event-stream")
				for {
					if _, err := io.WriteString(w, event); err != nil {
						return
					}
					w.(http.Flusher).Flush()
				}
			}))
			t.Cleanup(srv.Close)
			cfg, _ := loadFile(t, "limits: {write_idle_timeout: 300ms}\n"+configText(srv.Listener.Addr().String(),
				"  - {path: /s, service: svc, stream: {idle_timeout: 1h, max_lifetime: 1h}}\n"))
			logger, logs := newLogger()
			_, addr := startGateway(t, cfg, logger, kind)
			c := dial(t, addr)
			if _, err := io.WriteString(c, "GET /s HTTP/1.1\r\nHost: gw\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			// Read nothing: the stream fills the socket buffers, then stalls.
			if cut := logs.waitFor(t, "answer cut short; aborting the connection", 1); !strings.Contains(cut[0]["error"].(string), "timeout") {
				t.Errorf("abort logged as %v, want a write timeout", cut[0])
			}
			select {
			case <-ended:
			case <-time.After(waitLimit):
				t.Fatal("the backend's request did not end")
			}
		})
	}
}

// A WebSocket on a stream route ends at the stream's bounds, of which its
// node was told the maximum lifetime in the handshake's Sluice-Budget, and
// not only at the limits' bounds of a tunnel (5 minutes idle, 24 hours):
// an idle one at the route's idle timeout, a busy one at its maximum
// lifetime, each with a close frame with 1001.
func TestAWebSocketOnAStreamRouteEndsAtTheStreamsBounds(t *testing.T) {
	cases := []struct {
		name, stream string
		busy         bool
	}{
		{"idle", "{idle_timeout: 300ms, max_lifetime: 60s}", false},
		{"busy past its lifetime", "{idle_timeout: 60s, max_lifetime: 500ms}", true},
	}
	for _, kind := range listenerKinds {
		for _, tc := range cases {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				cfg, _ := loadFile(t, configText(upgradeBackend(t), "  - {path: /ws, service: svc, stream: "+tc.stream+"}\n"))
				logger, _ := newLogger()
				_, addr := startGateway(t, cfg, logger, kind)

				ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
				defer cancel()
				ws, _, err := websocket.Dial(ctx, "ws://"+addr+"/ws", nil)
				if err != nil {
					t.Fatalf("WebSocket through the gateway: %v", err)
				}
				defer ws.CloseNow()
				if tc.busy {
					go func() {
						for ws.Write(ctx, websocket.MessageText, []byte("tick")) == nil {
							time.Sleep(20 * time.Millisecond) // the client's pace
						}
					}()
				}
				for {
					if _, _, err = ws.Read(ctx); err != nil {
						break
					}
				}
				if websocket.CloseStatus(err) != websocket.StatusGoingAway {
					t.Fatalf("the WebSocket ended with %v, want a close with 1001 at the stream's bound", err)
				}
			})
		}
	}
}
