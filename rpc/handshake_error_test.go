package rpc_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sluicehq/sluice/rpc"
)

// A refused stream handshake keeps a non-problem body as the detail of a
// 4xx answer, the service's words on the request, but not a 5xx's (a stack
// trace, a proxy's error page naming the network behind it), as the
// upstream client's Call keeps none: a handler that returned the error
// wrote the detail to its own caller, up to the edge.
func TestAStreamHandshakes5xxBodyIsNoDetail(t *testing.T) {
	cases := map[int][2]string{ // status: the body, and the detail it gives
		http.StatusForbidden:           {"room 12 is closed\n", "room 12 is closed"},
		http.StatusInternalServerError: {"Exception in thread \"main\" java.lang.NullPointerException\n\tat chat.Rooms.join(Rooms.java:88)", ""},
		http.StatusServiceUnavailable:  {"<html>haproxy: 503, no server for backend chat (10.0.4.2:9101)</html>", ""},
	}
	for status, c := range cases {
		tc := struct {
			status     int
			body, want string
		}{status, c[0], c[1]}
		node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(tc.status)
			_, _ = w.Write([]byte(tc.body))
		}))
		ctx, cancel := context.WithTimeout(context.Background(), streamWait)
		_, err := rpc.DialStream(ctx, node.URL+rpc.Path("Chat.Echo"), rpc.DialOptions{})
		cancel()
		node.Close()
		var e *rpc.Error
		if !errors.As(err, &e) || e.Status != tc.status || e.Detail != tc.want {
			t.Errorf("%d %q: %#v, want an *rpc.Error of detail %q", tc.status, tc.body, err, tc.want)
			continue
		}
		w := httptest.NewRecorder()
		rpc.WriteError(w, err) // a handler's failure passed on
		checkProblem(t, w, tc.status, "about:blank", "", tc.want)
	}
}
