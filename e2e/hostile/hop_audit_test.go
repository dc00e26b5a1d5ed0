package hostile

import (
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A backend's Connection field names fields for the hop to the gateway
// only, and "close" in it is one more token: "Connection: close, X-Hop"
// must keep X-Hop from the client as "Connection: keep-alive, X-Hop" does
// (audit_backend_test.go). http.ReadResponse deletes a Connection field
// that holds "close", and with it the names; the gateway's transport keeps
// it, whichever of its parsers reads the answer.

// hopAnswers are the backend's answers, each with a route of its own
// (/hop/<slug>/), each answer carrying X-Hop: secret and closing its
// connection after it.
var hopAnswers = []struct{ slug, head string }{
	{"close", "Connection: close, X-Hop\r\nContent-Length: 2\r\n"},
	{"lines", "Connection: close\r\nconnection: x-hop\r\nContent-Length: 2\r\n"},
	{"case", "CONNECTION: \tX-HOP ,  CLOSE\t\r\nContent-Length: 2\r\n"},
	{"chunked", "Connection: close, X-Hop\r\nTransfer-Encoding: chunked\r\n"},
	{"big", "X-Pad: " + strings.Repeat("p", 6000) + "\r\nConnection: close, X-Hop\r\nContent-Length: 2\r\n"},
}

// hopAnswer writes the answer of slug to a request, then closes the
// connection, as its "close" says.
func hopAnswer(c net.Conn, req *http.Request, _ int) bool {
	slug := strings.Split(req.URL.Path, "/")[2]
	for _, a := range hopAnswers {
		if a.slug != slug {
			continue
		}
		body := "ok"
		if strings.Contains(a.head, "chunked") {
			body = "2\r\nok\r\n0\r\n\r\n"
		}
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\n%sX-Hop: secret\r\nX-Req-Id: %s\r\n\r\n%s", a.head, req.Header.Get("X-Req-Id"), body)
	}
	return false
}

// TestClosingAnswerKeepsItsHopFields: on each listener server, the client
// gets each answer, its body whole, without X-Hop nor Connection's other
// tokens.
func TestClosingAnswerKeepsItsHopFields(t *testing.T) {
	onEachServer(t, func(t *testing.T, srv listenerServer) {
		rb := newRawBackend(t, hopAnswer)
		var b strings.Builder
		gatewayYAML(&b, srv.config, time.Second)
		fmt.Fprintf(&b, "registry:\n  kind: static\n  static:\n    - {service: hop, id: hop-1, address: %q}\n", rb.addr())
		b.WriteString("defaults:\n  budget: {timeout: 2s, max: 2s, min: 1ms}\nroutes:\n")
		for _, a := range hopAnswers {
			fmt.Fprintf(&b, "  - {name: hop-%s, method: GET, path: /hop/%s/*, service: hop}\n", a.slug, a.slug)
		}
		_, addrs := startWith(t, b.String())
		for _, a := range hopAnswers {
			t.Run(a.slug, func(t *testing.T) {
				ans, err := firstAnswer(t, addrs[0], "/hop/"+a.slug+"/x", a.slug)
				if err != nil {
					t.Fatalf("no answer: %v", err)
				}
				if ans.status() != http.StatusOK || ans.resp.Header.Get("X-Req-Id") != a.slug || string(ans.body) != "ok" || ans.bodyErr != nil {
					t.Fatalf("got %s X-Req-Id %q body %q: want the backend's answer", ans, ans.resp.Header.Get("X-Req-Id"), ans.body)
				}
				if v := ans.resp.Header.Values("X-Hop"); len(v) > 0 {
					t.Errorf("the client got X-Hop %q: want it left out", v)
				}
				if v := ans.resp.Header.Values("Connection"); len(v) > 0 && !strings.EqualFold(strings.Join(v, ","), "close") {
					t.Errorf("the client got Connection %q: the backend's tokens", v)
				}
			})
		}
	})
}
