package hostile

import (
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// The limits audit's cases: what a client at the edge can make a route's
// rate limit and its compression do, through the real gateway, with
// backends that answer exactly what a case needs (raw answers, as the
// upgrade audit's).

// limitsAuditBody is a JSON answer large enough to be compressed.
var limitsAuditBody = "[" + strings.Repeat(`{"id":1,"name":"compressible"},`, 200) + `{"id":2}]`

// answerKeys answers 200, telling the API keys the backend got in X-Keys.
func answerKeys(c net.Conn, req *http.Request) (bool, bool) {
	keys := strings.Join(req.Header.Values("X-Api-Key"), "|")
	_, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nX-Keys: "+keys+"\r\nContent-Length: 2\r\n\r\nok")
	return false, err == nil
}

func limitsAuditRoutes() []upRoute {
	return []upRoute{
		{slug: "keyed", extra: `, rate_limit: {rps: 0.001, burst: 2, key: "header:X-Api-Key"}`, answer: answerKeys},
		{slug: "nm", extra: ", compress: {}", answer: writeAnswer("HTTP/1.1 304 Not Modified\r\nETag: \"v1\"\r\n\r\n")},
		{slug: "digest", extra: ", compress: {}", answer: writeAnswer("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" +
			"Content-Digest: sha-256=:AAAA:\r\nContent-Length: " + strconv.Itoa(len(limitsAuditBody)) + "\r\n\r\n" + limitsAuditBody)},
	}
}

func limitsAuditCases() []upCase {
	return []upCase{
		{"an API key sent beside made-up lines of its field draws from no fresh bucket", func(t *testing.T, s *upStack) {
			for i := range 2 {
				if a, x := get(t, s.gw, "/keyed/k", "X-Api-Key: key-of-alice"); a.status() != http.StatusOK {
					t.Fatalf("request %d with the key alone: %s", i, x)
				}
			}
			if a, x := get(t, s.gw, "/keyed/k", "X-Api-Key: key-of-alice"); a.status() != http.StatusTooManyRequests {
				t.Fatalf("third request with the key alone: %s, want 429", x)
			}
			passed := 0
			for i := range 6 {
				a, _ := get(t, s.gw, "/keyed/k", "X-Api-Key: made-up-"+strconv.Itoa(i), "X-Api-Key: key-of-alice")
				if a.status() == http.StatusOK {
					passed++
					t.Logf("the backend got X-Api-Key %q", a.resp.Header.Get("X-Keys"))
				}
			}
			if passed > 2 {
				t.Errorf("%d of 6 requests passed, want at most the address's burst of 2", passed)
			}
		}},
		{"a 304 to a weak If-None-Match says the tag weak, with Vary", func(t *testing.T, s *upStack) {
			a, x := get(t, s.gw, "/nm/x", "Accept-Encoding: gzip", `If-None-Match: W/"v1"`)
			if a.status() != http.StatusNotModified {
				t.Fatalf("want the backend's 304: %s", x)
			}
			if et := a.resp.Header.Get("ETag"); et != `W/"v1"` {
				t.Errorf("ETag %q, want W/\"v1\": the client holds the compressed answer", et)
			}
			if v := a.resp.Header.Get("Vary"); !strings.EqualFold(v, "Accept-Encoding") {
				t.Errorf("Vary %q, want Accept-Encoding", v)
			}
		}},
		{"an answer with Content-Digest goes as the backend wrote it", func(t *testing.T, s *upStack) {
			a, x := get(t, s.gw, "/digest/x", "Accept-Encoding: gzip, br, zstd")
			if a.status() != http.StatusOK {
				t.Fatalf("want the backend's 200: %s", x)
			}
			if ce := a.resp.Header.Get("Content-Encoding"); ce != "" || string(a.body) != limitsAuditBody {
				t.Errorf("Content-Encoding %q, %d bytes: want the bytes Content-Digest vouches for", ce, len(a.body))
			}
		}},
	}
}

// TestAuditLimits runs the limits audit's cases against a gateway of
// their own on each listener server, side by side.
func TestAuditLimits(t *testing.T) {
	runUpCases(t, "audit-limits", "", limitsAuditRoutes(), limitsAuditCases())
}
