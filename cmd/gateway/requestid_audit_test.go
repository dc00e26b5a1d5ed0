package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// A client outside trusted_proxies cannot choose the X-Request-Id a
// backend gets: the gateway makes one. A backend that reads its fields as
// CGI, WSGI and Rack do (X_Request_Id is HTTP_X_REQUEST_ID, as X-Request-Id
// is) must not find the client's id under another spelling, in the header
// or in a trailer it declared, beside the gateway's.
func TestClientRequestIDInOtherSpellingsNeverReachesTheBackend(t *testing.T) {
	type field struct{ name, value string }
	var mu sync.Mutex
	var got []field
	backend := rawBackend(t, func(c net.Conn, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // the trailers come after the body
		mu.Lock()
		for _, h := range []http.Header{r.Header, r.Trailer} {
			for name, vv := range h {
				if strings.EqualFold(strings.ReplaceAll(name, "_", "-"), "x-request-id") {
					for _, v := range vv {
						got = append(got, field{name, v})
					}
				}
			}
		}
		mu.Unlock()
		_, _ = io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	})
	cfg, _ := loadFile(t, configText(backend, "  - {name: v1, path: /v1, service: svc}\n  - {name: v2, path: /v2, service: svc, method: POST}\n"))
	logger, _ := newLogger()
	for _, kind := range listenerKinds {
		for _, tc := range []struct{ name, head string }{
			{"header", "GET /v1 HTTP/1.1\r\nHost: x\r\nX_Request_Id: forged-by-client\r\nx_request_ID: forged-too\r\n" +
				"Connection: close\r\n\r\n"},
			{"trailer", "POST /v2 HTTP/1.1\r\nHost: x\r\nTrailer: X-Request-Id, X_Request_Id\r\nTransfer-Encoding: chunked\r\n" +
				"Connection: close\r\n\r\n1\r\na\r\n0\r\nX-Request-Id: forged-by-client\r\nX_Request_Id: forged-too\r\n\r\n"},
		} {
			t.Run(kind+"/"+tc.name, func(t *testing.T) {
				mu.Lock()
				got = nil
				mu.Unlock()
				_, addr := startGateway(t, cfg, logger, kind)
				c := dial(t, addr)
				if _, err := io.WriteString(c, tc.head); err != nil {
					t.Fatal(err)
				}
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					t.Fatalf("status %d", resp.StatusCode)
				}
				id := resp.Header.Get("X-Request-Id")
				mu.Lock()
				defer mu.Unlock()
				want := fmt.Sprint([]field{{"X-Request-Id", id}})
				if fmt.Sprint(got) != want {
					t.Errorf("the backend got the request id fields %v; want the gateway's alone, %s", got, want)
				}
			})
		}
	}
}
