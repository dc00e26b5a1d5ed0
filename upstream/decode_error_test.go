package upstream

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/rpc"
)

// TestDecodeErrorKeepsNoServerBody: a non-problem body is the detail of a
// 4xx answer, but a 5xx's (here a stack trace) is not kept: a handler that
// returned the error would write it to its own caller, up to the edge.
func TestDecodeErrorKeepsNoServerBody(t *testing.T) {
	for _, tc := range []struct {
		status     int
		body, want string
	}{
		{http.StatusBadRequest, "missing field name\n", "missing field name"},
		{http.StatusInternalServerError, "panic: nil map\ngoroutine 7 [running]:\nmain.handler(/srv/app/db.go:42)", ""},
		{http.StatusBadGateway, "<html>nginx: 502 Bad Gateway, upstream 10.1.2.3:8080</html>", ""},
	} {
		resp := &http.Response{StatusCode: tc.status, Header: http.Header{"Content-Type": {"text/plain"}},
			Body: io.NopCloser(strings.NewReader(tc.body))}
		var e *rpc.Error
		if err := decodeError(resp); !errors.As(err, &e) || e.Detail != tc.want || e.Status != tc.status {
			t.Errorf("%d %q: %#v, want detail %q", tc.status, tc.body, err, tc.want)
		}
	}
}
