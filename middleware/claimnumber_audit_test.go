package middleware_test

import (
	"net/http"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sluicehq/sluice/middleware"
)

// TestAuthenticateForwardsNumbersAsInTheToken: claims are forwarded
// "numbers as in JSON" (docs/auth.md), and an issuer may write user ids
// as JSON numbers beyond 2^53 (a Java long, a snowflake id). Decoded as
// float64, two users' ids 9007199254740993 and 9007199254740992 both
// reached the backend as 9007199254740992: the first user was the second
// one there. Each must reach it as its token wrote it.
func TestAuthenticateForwardsNumbersAsInTheToken(t *testing.T) {
	v, err := middleware.NewJWTVerifier(middleware.JWTSettings{Algorithms: []string{"HS256"},
		Keys: []middleware.JWTKey{{Key: hmacSecret}}, Now: fixedNow,
		ForwardClaims: map[string]string{"uid": "X-User-Id", "orgs": "X-Orgs"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		uid        int64
		orgs       []int64
		wantU, wan string
	}{
		{9007199254740993, []int64{1, 9007199254740995}, "9007199254740993", "1,9007199254740995"},
		{9007199254740992, []int64{1, 9007199254740996}, "9007199254740992", "1,9007199254740996"},
		{1234567890123456789, nil, "1234567890123456789", ""},
	} {
		mc := jwt.MapClaims{"exp": t0.Unix() + 60, "uid": tt.uid}
		if tt.orgs != nil {
			mc["orgs"] = tt.orgs
		}
		w, s, _ := serveAuth(v, bearer(sign(t, jwt.SigningMethodHS256, hmacSecret, "", mc)))
		if w.Code != http.StatusOK {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		if got := s.header.Get("X-User-Id"); got != tt.wantU {
			t.Errorf("uid %d forwarded as %q, want %q", tt.uid, got, tt.wantU)
		}
		if got := s.header.Get("X-Orgs"); got != tt.wan {
			t.Errorf("orgs %v forwarded as %q, want %q", tt.orgs, got, tt.wan)
		}
	}
}
