package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/problem"
)

// countingBackend answers 200 "ok" after reading the body, and counts the
// requests that reached it.
func countingBackend(t *testing.T) (string, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), &hits
}

// readAnswer reads one answer from c and its body.
func readAnswer(t *testing.T, c net.Conn) (*http.Response, string) {
	t.Helper()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// A request whose body stalls is answered 408 when its budget ends or its
// body idle timeout passes, whichever comes first, without reaching the
// backend; its connection is closed (issue 10, item 4).
func TestStalledBodyIsAnswered408(t *testing.T) {
	cases := []struct {
		name     string
		limits   string
		budget   string
		send     string
		streamed bool // beyond MaxReplayBody: the backend gets the start
	}{
		{"budget 1s, 5 of 100 declared bytes", "", "{timeout: 1s}",
			"PUT /up HTTP/1.1\r\nHost: gw\r\nContent-Length: 100\r\n\r\nhello", false},
		{"budget 1s, chunked body stalls", "", "{timeout: 1s}",
			"PUT /up HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", false},
		{"budget 1s, 5 of 1 MiB declared bytes", "", "{timeout: 1s}",
			"POST /up HTTP/1.1\r\nHost: gw\r\nContent-Length: 1048576\r\n\r\nhello", false},
		{"body idle timeout 200ms under a 60s budget", "limits: {body_idle_timeout: 200ms}\n", "{timeout: 60s}",
			"POST /up HTTP/1.1\r\nHost: gw\r\nContent-Length: 100\r\n\r\nhello", false},
		{"budget 1s, stalls after 100 KiB of 1 MiB", "", "{timeout: 1s}",
			"POST /up HTTP/1.1\r\nHost: gw\r\nContent-Length: 1048576\r\n\r\n" + strings.Repeat("b", 100<<10), true},
		{"body idle timeout 200ms, stalls after 100 KiB of 1 MiB", "limits: {body_idle_timeout: 200ms}\n", "{timeout: 60s}",
			"POST /up HTTP/1.1\r\nHost: gw\r\nContent-Length: 1048576\r\n\r\n" + strings.Repeat("b", 100<<10), true},
	}
	for _, kind := range listenerKinds {
		for _, tc := range cases {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				backend, hits := countingBackend(t)
				cfg, _ := loadFile(t, tc.limits+configText(backend,
					"  - {method: \"*\", path: /up, service: svc, budget: "+tc.budget+"}\n"))
				logger, _ := newLogger()
				_, addr := startGateway(t, cfg, logger, kind)

				c := dial(t, addr)
				start := time.Now()
				if _, err := io.WriteString(c, tc.send); err != nil {
					t.Fatal(err)
				}
				resp, body := readAnswer(t, c) // within waitLimit, or the test fails
				elapsed := time.Since(start)
				t.Logf("answered %d after %v", resp.StatusCode, elapsed.Round(time.Millisecond))
				if resp.StatusCode != http.StatusRequestTimeout || resp.Header.Get("Content-Type") != problem.ContentType {
					t.Fatalf("answer %d %q %s, want a 408 problem", resp.StatusCode, resp.Header.Get("Content-Type"), body)
				}
				if elapsed > waitLimit/2 {
					t.Errorf("answered after %v: the stall was not cut by the budget or the idle timeout", elapsed)
				}
				if !resp.Close {
					t.Error("the answer keeps the connection open after an unread body")
				}
				if n := hits.Load(); n != 0 && !tc.streamed {
					t.Errorf("the backend got %d requests; a stalled body must not reach it", n)
				}
			})
		}
	}
}

// Bodies that are malformed or abandoned are the client's fault: answered
// 400, never sent on, never counted by the breaker or ejection; the service
// keeps answering others (issue 10, item 3).
func TestBadBodiesDoNotHurtTheService(t *testing.T) {
	cases := []struct {
		name     string
		send     string
		hangUp   bool
		wantCode int
	}{
		{"chunk size zz", "POST /up HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nx\r\n0\r\n\r\n", false, http.StatusBadRequest},
		{"5 of 50 declared bytes, then gone", "POST /up HTTP/1.1\r\nHost: gw\r\nContent-Length: 50\r\n\r\nhello", true, 0},
		{"chunked body cut, then gone", "POST /up HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc", true, 0},
	}
	for _, kind := range listenerKinds {
		for _, tc := range cases {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				backend, hits := countingBackend(t)
				cfg, _ := loadFile(t, configText(backend,
					"  - {method: POST, path: /up, service: svc}\n  - {path: /get, service: svc}\n"))
				logger, logs := newLogger()
				g, addr := startGateway(t, cfg, logger, kind)

				for i := range 8 {
					c := dial(t, addr)
					if _, err := io.WriteString(c, tc.send); err != nil {
						t.Fatal(err)
					}
					if tc.hangUp {
						c.Close()
						logs.waitFor(t, "request", i+1) // the access log line: the request is over
						continue
					}
					if resp, body := readAnswer(t, c); resp.StatusCode != tc.wantCode {
						t.Fatalf("attempt %d: %d %s, want %d", i, resp.StatusCode, body, tc.wantCode)
					}
				}
				if n := hits.Load(); n != 0 {
					t.Errorf("the backend got %d of the bad requests", n)
				}
				resp, err := freshClient().Get("http://" + addr + "/get")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Errorf("a good GET after the bad bodies: %d, want 200", resp.StatusCode)
				}
				for _, st := range g.resilience.breakers.States() {
					if st.Faults != 0 || st.State != "closed" {
						t.Errorf("breaker %+v, want closed with no faults", st)
					}
				}
				if ej := g.resilience.ejector.Ejections(); len(ej) != 0 {
					t.Errorf("ejections %+v, want none", ej)
				}
			})
		}
	}
}

// A malformed body is logged at info, as the client's doing, not as an
// upstream failure.
func TestBodyErrorLogLine(t *testing.T) {
	backend, _ := countingBackend(t)
	cfg, _ := loadFile(t, configText(backend, "  - {method: POST, path: /up, service: svc}\n"))
	logger, logs := newLogger()
	_, addr := startGateway(t, cfg, logger, listenerKinds[0])
	c := dial(t, addr)
	io.WriteString(c, "POST /up HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n")
	readAnswer(t, c)
	lines := logs.waitFor(t, "request body failed", 1)
	b, _ := json.Marshal(lines[0])
	if lines[0]["level"] != "INFO" || !strings.Contains(string(b), "malformed") {
		t.Errorf("log line %s, want an INFO line saying the body is malformed", b)
	}
}
