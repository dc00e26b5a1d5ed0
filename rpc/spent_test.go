package rpc_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/rpc"
)

// A handler is not called on a spent budget: reading and decoding the body
// spend it too, and a budget that ran out meanwhile (or had, as here, when
// the request came) was handed to the handler, to do its work for a caller
// that had given up. The answer is 504 budget-spent, as a handler's own
// error for it would be.
func TestAHandlerIsNotCalledOnASpentBudget(t *testing.T) {
	called := false
	s := rpc.NewServer()
	rpc.Register(s, "Orders.Put", func(ctx context.Context, req *echoReq) (*echoRsp, error) {
		called = true
		return &echoRsp{}, nil
	})
	for _, body := range []string{"", `{"name":"x"}`} {
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Millisecond))
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/rpc/Orders.Put", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		cancel()
		if called || rec.Code != http.StatusGatewayTimeout || !strings.Contains(rec.Body.String(), "budget-spent") {
			t.Errorf("body %q: handler called %v, answered %d %s", body, called, rec.Code, rec.Body)
		}
	}
}
