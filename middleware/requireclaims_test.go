package middleware

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/problem"
)

// TestClaimRequirementsAllowOnlyTokensHoldingThem checks the claim shapes
// issuers write: scope space-separated, scp as an array, a role among
// several, a tenant by number, a flag; every named claim must hold one of
// its values.
func TestClaimRequirementsAllowOnlyTokensHoldingThem(t *testing.T) {
	req, err := NewClaimRequirements(map[string][]string{
		"scope": {"orders:write"}, "role": {"admin", "ops"}, "tenant": {"42"},
	})
	if err != nil {
		t.Fatal(err)
	}
	base := func() map[string]any {
		return map[string]any{"scope": "orders:read orders:write", "role": []any{"user", "ops"}, "tenant": float64(42)}
	}
	if !req.Allows(base()) {
		t.Fatal("a token holding every requirement was refused")
	}
	for name, edit := range map[string]func(map[string]any){
		"scope without the word":       func(c map[string]any) { c["scope"] = "orders:read orders:writer" },
		"scope as one string of words": func(c map[string]any) { c["scope"] = "orders:read,orders:write" },
		"role not among the values":    func(c map[string]any) { c["role"] = []any{"user"} },
		"role missing":                 func(c map[string]any) { delete(c, "role") },
		"tenant of another number":     func(c map[string]any) { c["tenant"] = float64(420) },
		"tenant as an object":          func(c map[string]any) { c["tenant"] = map[string]any{"id": "42"} },
		"role spaced, not split":       func(c map[string]any) { c["role"] = "user ops" },
	} {
		c := base()
		edit(c)
		if req.Allows(c) {
			t.Errorf("%s: allowed", name)
		}
	}
	scp, _ := NewClaimRequirements(map[string][]string{"scp": {"read"}, "admin": {"true"}})
	if !scp.Allows(map[string]any{"scp": []any{"write", "read"}, "admin": true}) || scp.Allows(map[string]any{"scp": "read", "admin": false}) {
		t.Error("scp as an array, or a boolean claim, misread")
	}
	for _, bad := range []map[string][]string{nil, {"": {"x"}}, {"role": nil}, {"role": {"a", ""}}} {
		if _, err := NewClaimRequirements(bad); err == nil {
			t.Errorf("%v accepted", bad)
		}
	}
}

// TestClaimRequirementsAnswerForbidden: a request without a verified
// identity, or whose claims do not hold the requirements, gets 403 with
// RFC 6750's insufficient_scope, counted; one that holds them is served.
func TestClaimRequirementsAnswerForbidden(t *testing.T) {
	req, _ := NewClaimRequirements(map[string][]string{"scope": {"admin"}})
	var reasons []string
	h := req.Middleware(func(r string) { reasons = append(reasons, r) })(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	for _, tc := range []struct {
		id   *Identity
		want int
	}{
		{nil, http.StatusForbidden},
		{&Identity{Claims: map[string]any{"scope": "read"}}, http.StatusForbidden},
		{&Identity{Claims: map[string]any{"scope": "read admin"}}, http.StatusNoContent},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		if tc.id != nil {
			r = r.WithContext(context.WithValue(r.Context(), identityKey{}, tc.id))
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != tc.want {
			t.Errorf("%+v: %d, want %d", tc.id, w.Code, tc.want)
		}
		if w.Code == http.StatusForbidden && (!strings.Contains(w.Header().Get("WWW-Authenticate"), `error="insufficient_scope"`) ||
			!strings.Contains(w.Body.String(), problem.TypeForbidden)) {
			t.Errorf("403 without its challenge or type: %v %s", w.Header(), w.Body)
		}
	}
	if len(reasons) != 2 || reasons[0] != ReasonInsufficientClaims {
		t.Errorf("told %v, want two %s", reasons, ReasonInsufficientClaims)
	}
}
