package hostile

import (
	"bufio"
	"fmt"
	"io"
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

// The same through the default Fallback of the transport, whose
// *http.Transport reads the answers to uploads over 64 KiB: the gateway
// keeps the field there too (upstream/h1/fallbackconn.go). The gateway
// reaches its nodes over plain HTTP only, so no https backend is audited.

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
	slug := strings.Split(strings.TrimPrefix(req.URL.Path, "/up"), "/")[2]
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
			fmt.Fprintf(&b, "  - {name: up-%s, method: POST, path: /up/hop/%s/*, service: hop}\n", a.slug, a.slug)
		}
		_, addrs := startWith(t, b.String())
		for _, a := range hopAnswers {
			t.Run(a.slug, func(t *testing.T) {
				ans, err := firstAnswer(t, addrs[0], "/hop/"+a.slug+"/x", a.slug)
				checkHopAnswer(t, ans, err, a.slug)
			})
			t.Run("upload/"+a.slug, func(t *testing.T) {
				ans, err := uploadAnswer(t, addrs[0], "/up/hop/"+a.slug+"/x", a.slug, 100<<10)
				checkHopAnswer(t, ans, err, a.slug)
			})
		}
	})
}

// checkHopAnswer checks ans, the answer to the request id, is the
// backend's, without X-Hop nor Connection's other tokens.
func checkHopAnswer(t *testing.T, ans answer, err error, id string) {
	t.Helper()
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	if ans.status() != http.StatusOK || ans.resp.Header.Get("X-Req-Id") != id || string(ans.body) != "ok" || ans.bodyErr != nil {
		t.Fatalf("got %s X-Req-Id %q body %q: want the backend's answer", ans, ans.resp.Header.Get("X-Req-Id"), ans.body)
	}
	if v := ans.resp.Header.Values("X-Hop"); len(v) > 0 {
		t.Errorf("the client got X-Hop %q: want it left out", v)
	}
	if v := ans.resp.Header.Values("Connection"); len(v) > 0 && !strings.EqualFold(strings.Join(v, ","), "close") {
		t.Errorf("the client got Connection %q: the backend's tokens", v)
	}
}

// uploadAnswer sends one POST of size bytes with X-Req-Id: id and reads
// its answer only.
func uploadAnswer(t *testing.T, addr, target, id string, size int) (answer, error) {
	t.Helper()
	c := dial(t, addr)
	_ = c.SetDeadline(time.Now().Add(hangLimit))
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: h\r\nX-Req-Id: %s\r\nContent-Length: %d\r\n\r\n", target, id, size)
	if _, err := io.WriteString(c, head+strings.Repeat("u", size)); err != nil {
		return answer{}, err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return answer{}, err
	}
	body, err := io.ReadAll(resp.Body)
	return answer{resp: resp, body: body, bodyErr: err}, nil
}
