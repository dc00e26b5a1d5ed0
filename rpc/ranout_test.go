package rpc_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/rpc"
)

// tooLowErr is a budget-too-low failure of a call, as the upstream client's
// *BudgetTooLowError is: nothing was sent.
type tooLowErr struct{}

func (tooLowErr) Error() string { return "budget left below the callee's fastest answer" }
func (tooLowErr) Problem() (int, string, string) {
	return http.StatusGatewayTimeout, problem.TypeBudgetTooLow, "Budget below the service's fastest answer"
}

// A handler's failure is never answered budget-too-low, which says that no
// work was done and which the upstream client retries on another node for
// any method: the handler ran, and the budget-too-low was a call's it made,
// perhaps after its work. It is answered 504 budget-spent, may have been
// processed, keeping a "no" the callee's answer carried; every other
// failure as it was.
func TestAHandlersBudgetTooLowIsAnsweredAsBudgetSpent(t *testing.T) {
	calleeTooLow := &rpc.Error{Status: http.StatusGatewayTimeout, Type: problem.TypeBudgetTooLow,
		Title: "Budget below the minimum", Detail: "the remaining budget is below this service's minimum; no work was done"}
	calleeTooLowNo := *calleeTooLow
	calleeTooLowNo.Retry = "no"
	for _, tc := range []struct {
		name      string
		err       error
		status    int
		typ       string
		retry     string
		unchanged bool // the handler's own detail goes out
	}{
		{"a callee's budget-too-low passed on", fmt.Errorf("reserving: %w", calleeTooLow), 504, problem.TypeBudgetSpent, "", false},
		{"a callee's budget-too-low with Sluice-Retry no", &calleeTooLowNo, 504, problem.TypeBudgetSpent, "no", false},
		{"the client's own refusal", tooLowErr{}, 504, problem.TypeBudgetSpent, "", false},
		{"budget.ErrBelowMinimum", fmt.Errorf("reserving: %w", budget.ErrBelowMinimum), 504, problem.TypeBudgetSpent, "", false},
		{"a callee's budget-spent", &rpc.Error{Status: 504, Type: problem.TypeBudgetSpent, Detail: "callee's"}, 504, problem.TypeBudgetSpent, "", true},
		{"a business error", &rpc.Error{Status: 409, Type: "urn:test:conflict", Detail: "callee's"}, 409, "urn:test:conflict", "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := rpc.NewServer()
			rpc.Register(s, "Orders.Create", func(context.Context, *struct{}) (*struct{}, error) { return nil, tc.err })
			w := httptest.NewRecorder()
			s.ServeHTTP(w, httptest.NewRequest(http.MethodPost, rpc.Path("Orders.Create"), nil))
			detail := ""
			if tc.unchanged {
				detail = "callee's"
			}
			checkProblem(t, w, tc.status, tc.typ, "", detail)
			if got := w.Header().Get("Sluice-Retry"); got != tc.retry {
				t.Errorf("Sluice-Retry %q, want %q", got, tc.retry)
			}
		})
	}
}
