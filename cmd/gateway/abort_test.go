package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// An answer that breaks after its header was sent reaches the client as a
// cut connection, never as a short body that looks complete (issue 10, item
// 2), on both listener servers; the access log marks the request aborted,
// and the cut is logged at warn when the backend's body broke (the node's
// doing), at info when the budget ended.
func TestBrokenAnswersAreAborted(t *testing.T) {
	const head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
	cases := []struct {
		name   string
		budget string
		answer func(c net.Conn)
		level  string // of the line "answer cut short"
	}{
		{"chunk cut at 10 of 100 bytes", "", func(c net.Conn) {
			io.WriteString(c, head+"64\r\n"+strings.Repeat("x", 10))
		}, "WARN"},
		{"chunk size zz", "", func(c net.Conn) {
			io.WriteString(c, head+"zz\r\nx\r\n0\r\n\r\n")
		}, "WARN"},
		{"1 MiB chunk cut at 64 KiB", "", func(c net.Conn) {
			io.WriteString(c, head+"100000\r\n"+strings.Repeat("x", 64<<10))
		}, "WARN"},
		{"Content-Length 100, 10 sent", "", func(c net.Conn) {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"+strings.Repeat("x", 10))
		}, "WARN"},
		{"budget of 1s ends in a 3s stream", "budget: {timeout: 1s}", func(c net.Conn) {
			io.WriteString(c, head)
			for i := range 30 {
				if _, err := fmt.Fprintf(c, "6\r\nchunk%d\r\n", i%10); err != nil {
					return // the gateway gave up
				}
				time.Sleep(100 * time.Millisecond) // the backend's pace, not a wait for a condition
			}
			io.WriteString(c, "0\r\n\r\n")
		}, "INFO"},
	}
	for _, kind := range listenerKinds {
		for _, tc := range cases {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				backend := rawBackend(t, func(c net.Conn, _ *http.Request) { tc.answer(c) })
				route := "  - {path: /cut, service: svc}\n"
				if tc.budget != "" {
					route = "  - {path: /cut, service: svc, " + tc.budget + "}\n"
				}
				cfg, _ := loadFile(t, configText(backend, route))
				logger, logs := newLogger()
				_, addr := startGateway(t, cfg, logger, kind)

				resp, err := freshClient().Get("http://" + addr + "/cut")
				var body []byte
				if err == nil {
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				if err == nil {
					t.Fatalf("the client read a complete answer: %d, %d bytes, header %v; want an error", resp.StatusCode, len(body), resp.Header)
				}
				t.Logf("client: %v", err)
				lines := logs.waitFor(t, "request", 1)
				if lines[0]["aborted"] != true {
					t.Errorf("access log %v, want the request marked aborted", lines[0])
				}
				if cut := logs.waitFor(t, "answer cut short; aborting the connection", 1); cut[0]["level"] != tc.level {
					t.Errorf("the cut logged as %v, want at %s", cut[0], tc.level)
				}
			})
		}
	}
}

// A complete answer, streamed or not, is not aborted: the write deadlines
// are cleared and the connection is reused.
func TestCompleteAnswersStayWhole(t *testing.T) {
	big := strings.Repeat("y", 300<<10)
	backend := rawBackend(t, func(c net.Conn, r *http.Request) {
		if r.URL.Path == "/big" {
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n", len(big), big)
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
	})
	cfg, _ := loadFile(t, configText(backend, "  - {path: /big, service: svc}\n  - {path: /small, service: svc}\n"))
	for _, kind := range listenerKinds {
		t.Run(kind, func(t *testing.T) {
			logger, _ := newLogger()
			_, addr := startGateway(t, cfg, logger, kind)
			client := &http.Client{Timeout: waitLimit}
			for range 3 { // on one kept-alive connection
				for path, want := range map[string]string{"/big": big, "/small": "hello"} {
					resp, err := client.Get("http://" + addr + path)
					if err != nil {
						t.Fatal(err)
					}
					b, err := io.ReadAll(resp.Body)
					resp.Body.Close()
					if err != nil || string(b) != want {
						t.Fatalf("%s: %d bytes, %v; want %d bytes", path, len(b), err, len(want))
					}
				}
			}
		})
	}
}

// A client that goes away in the middle of an answer (it read the header
// and the first bytes, then reset the connection) cuts the answer short:
// that is logged at info, on both listener servers, so that clients
// navigating away neither raise warnings nor use up the lines sampled of
// the nodes' failures, which share the message.
func TestClientCutsAreLoggedAtInfo(t *testing.T) {
	for _, kind := range listenerKinds {
		t.Run(kind, func(t *testing.T) {
			cfg, _ := loadFile(t, configText(hugeBackend(t), "  - {path: /huge, service: svc}\n"))
			logger, logs := newLogger()
			_, addr := startGateway(t, cfg, logger, kind)
			c := dial(t, addr)
			if _, err := io.WriteString(c, "GET /huge HTTP/1.1\r\nHost: gw\r\n\r\n"); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(c, make([]byte, 4096)); err != nil {
				t.Fatal(err)
			}
			c.(*net.TCPConn).SetLinger(0) // a reset, not an orderly close
			c.Close()
			if cut := logs.waitFor(t, "answer cut short; aborting the connection", 1); cut[0]["level"] != "INFO" {
				t.Errorf("the cut logged as %v, want at INFO: the client left", cut[0])
			}
		})
	}
}
