package hostile

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The routes-by-host audit: with a route for api.test beside one for every
// host, a client picks its route by the host it writes, and only by what
// HTTP says is the request's host: the Host field, or the authority of an
// absolute-form target, which wins over it (RFC 9112, 3.2.2), on both
// listener servers alike. Spellings of a name (case, port, final dot)
// reach its route; a Host that is no host, or two of them, is refused.

func hostsYAML(plain, api *echoBackend, server string) string {
	var b strings.Builder
	gatewayYAML(&b, server, time.Second)
	staticYAML(&b, "plain", plain, "api", api)
	b.WriteString("routes:\n  - {method: GET, path: \"/x/*\", service: plain}\n")
	b.WriteString("  - {method: GET, path: \"/x/*\", service: api, hosts: [api.test]}\n")
	return b.String()
}

func TestARequestsHostPicksItsRouteAsHTTPSays(t *testing.T) {
	onEachServer(t, func(t *testing.T, srv listenerServer) {
		plain, api := newEchoBackend(t), newEchoBackend(t)
		_, addrs := startWith(t, hostsYAML(plain, api, srv.config))
		for i, tc := range []struct {
			head string // the request line's target and the fields
			want string // plain, api, or a status
		}{
			{"/x/%d HTTP/1.1\r\nHost: api.test", "api"},
			{"/x/%d HTTP/1.1\r\nHost: API.Test:8080", "api"},
			{"/x/%d HTTP/1.1\r\nHost: api.test.", "api"},
			{"/x/%d HTTP/1.1\r\nHost: other.test", "plain"},
			{"/x/%d HTTP/1.1\r\nHost: xapi.test", "plain"},
			{"/x/%d HTTP/1.1\r\nHost: api.test.other", "plain"},
			{"http://api.test/x/%d HTTP/1.1\r\nHost: other.test", "api"},
			{"http://other.test/x/%d HTTP/1.1\r\nHost: api.test", "plain"},
			{"/x/%d HTTP/1.1\r\nHost: api.test\r\nHost: other.test", "400"},
			{"/x/%d HTTP/1.1\r\nHost: api test", "400"},
			{"/x/%d HTTP/1.0", "plain"},
		} {
			target, fields, _ := strings.Cut(tc.head, " HTTP/")
			raw := fmt.Sprintf("GET "+target+" HTTP/"+fields+"\r\nConnection: close\r\n\r\n", i)
			x := send(t, addrs[0], raw)
			if len(x.answers) != 1 {
				t.Fatalf("%q: %d answers (%v)", raw, len(x.answers), x.end)
			}
			status := x.answers[0].resp.StatusCode
			got := fmt.Sprint(status)
			path := fmt.Sprintf("/x/%d", i)
			switch {
			case len(api.matching(path)) == 1:
				got = "api"
			case len(plain.matching(path)) == 1:
				got = "plain"
			}
			if got != tc.want || (got == "api" || got == "plain") && status != http.StatusOK {
				t.Errorf("%q: %s (status %d), want %s", raw, got, status, tc.want)
			}
		}
	})
}
