package main

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"
)

// hugeBackend answers /huge with 64 MiB, more than the loopback socket
// buffers hold, and anything else with 300 KiB.
func hugeBackend(t *testing.T) string {
	t.Helper()
	chunk := bytes.Repeat([]byte("z"), 32<<10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := 300 << 10
		if r.URL.Path == "/huge" {
			n = 64 << 20
		}
		for n > 0 {
			k := min(n, len(chunk))
			if _, err := w.Write(chunk[:k]); err != nil {
				return
			}
			n -= k
		}
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// A client that stops reading its answer has it cut off after the write
// idle timeout, instead of holding the request for ever (issue 10, item 4).
func TestClientThatStopsReadingIsCutOff(t *testing.T) {
	for _, kind := range listenerKinds {
		t.Run(kind, func(t *testing.T) {
			cfg, _ := loadFile(t, "limits: {write_idle_timeout: 300ms}\n"+configText(hugeBackend(t),
				"  - {path: /huge, service: svc, budget: {timeout: 5m, max: 5m}}\n"))
			logger, logs := newLogger()
			_, addr := startGateway(t, cfg, logger, kind)
			c := dial(t, addr)
			if _, err := io.WriteString(c, "GET /huge HTTP/1.1\r\nHost: gw\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			// Read nothing: the answer fills the socket buffers, then stalls.
			lines := logs.waitFor(t, "request", 1)
			// net/http's server cancels the request when a write fails,
			// so that the log says 499 there.
			if st := lines[0]["status"]; lines[0]["aborted"] != true || (st != float64(200) && st != float64(499)) {
				t.Errorf("access log %v, want the 200 (or 499) marked aborted", lines[0])
			}
			if cut := logs.waitFor(t, "answer cut short; aborting the connection", 1); !strings.Contains(cut[0]["error"].(string), "timeout") ||
				cut[0]["level"] != "INFO" {
				t.Errorf("abort logged as %v, want a write timeout, at INFO: the client stopped reading", cut[0])
			}
		})
	}
}

// The write deadline of an answer does not outlive it: the next answer on
// the same connection, long after the write idle timeout, is whole.
func TestWriteDeadlineIsClearedAfterTheAnswer(t *testing.T) {
	for _, kind := range listenerKinds {
		t.Run(kind, func(t *testing.T) {
			cfg, _ := loadFile(t, "limits: {write_idle_timeout: 100ms}\n"+configText(hugeBackend(t),
				"  - {path: /big, service: svc}\n"))
			logger, _ := newLogger()
			_, addr := startGateway(t, cfg, logger, kind)
			client := &http.Client{Timeout: waitLimit, Transport: &http.Transport{MaxConnsPerHost: 1}}
			reused := false
			trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { reused = i.Reused }}
			for i, path := range []string{"/big", "/healthz", "/big"} {
				if i > 0 {
					time.Sleep(300 * time.Millisecond) // past the write idle timeout: a deadline left set would fire
				}
				req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
				resp, err := client.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
				if err != nil {
					t.Fatalf("%s: %v", path, err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Fatalf("%s: %d, %d bytes, %v", path, resp.StatusCode, len(b), err)
				}
				if i > 0 && !reused {
					t.Fatalf("%s: a new connection; the test needs the same one", path)
				}
			}
		})
	}
}

// A client that reads a large answer slowly gets it whole, on a default
// route whose service has answered enough (20 answers) for the upstream
// client to derive a per-try timeout (a quarter of a second here): that
// timeout bounds the wait for an answer, and it cut the answer's body
// too, once the sockets' buffers were full, so that a download over a
// slow link came out short. The client reads 64 KiB every 20 ms, its own
// pace, about 1.6 s for 4 MiB.
func TestASlowDownloadOutlivesThePerTryTimeout(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 4<<20)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/f/big" {
			_, _ = w.Write(big)
			return
		}
		_, _ = io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	for _, kind := range listenerKinds {
		t.Run(kind, func(t *testing.T) {
			cfg, _ := loadFile(t, configText(srv.Listener.Addr().String(), "  - {path: /f/*, service: svc}\n"))
			logger, _ := newLogger()
			_, addr := startGateway(t, cfg, logger, kind)
			client := freshClient()
			for range 30 {
				resp, err := client.Get("http://" + addr + "/f/small")
				if err != nil {
					t.Fatal(err)
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			c := dial(t, addr)
			if _, err := io.WriteString(c, "GET /f/big HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReaderSize(&slowConn{c}, 64<<10), nil)
			if err != nil {
				t.Fatal(err)
			}
			n, err := io.Copy(io.Discard, resp.Body)
			if err != nil || n != int64(len(big)) {
				t.Fatalf("read %d of %d bytes: %v", n, len(big), err)
			}
		})
	}
}

// slowConn reads at most 64 KiB every 20 ms.
type slowConn struct{ net.Conn }

func (c *slowConn) Read(p []byte) (int, error) {
	time.Sleep(20 * time.Millisecond) // the client's pace
	return c.Conn.Read(p[:min(len(p), 64<<10)])
}
