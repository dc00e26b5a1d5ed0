package middleware_test

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/middleware"
)

func TestAuthenticate(t *testing.T) {
	k := testKeys()
	hs := provider(t, []string{"HS256"}, middleware.JWTKey{ID: "s1", Key: hmacSecret})
	rs := provider(t, []string{"RS256"}, middleware.JWTKey{ID: "r1", Key: &k.rsa.PublicKey})
	es := provider(t, []string{"ES256"}, middleware.JWTKey{Key: &k.ec.PublicKey})
	ed := provider(t, []string{"EdDSA"}, middleware.JWTKey{ID: "e1", Key: k.ed.Public()})
	// Both families allowed: the kid, not the token's alg, picks the key,
	// and the key's type must fit the alg.
	mixed := provider(t, []string{"HS256", "RS256"},
		middleware.JWTKey{ID: "s1", Key: hmacSecret}, middleware.JWTKey{ID: "r1", Key: &k.rsa.PublicKey})
	rsaPEM := pemOf(t, &k.rsa.PublicKey)
	unix := func(d time.Duration) int64 { return t0.Add(d).Unix() }
	hs256 := func(c jwt.MapClaims) string { return sign(t, jwt.SigningMethodHS256, hmacSecret, "s1", c) }

	tests := []struct {
		name   string
		v      *middleware.JWTVerifier
		fields http.Header
		reason string // empty: accepted
	}{
		{"HS256", hs, bearer(hs256(claims(nil))), ""},
		{"HS256 without kid", hs, bearer(sign(t, jwt.SigningMethodHS256, hmacSecret, "", claims(nil))), ""},
		{"RS256", rs, bearer(sign(t, jwt.SigningMethodRS256, k.rsa, "r1", claims(nil))), ""},
		{"ES256", es, bearer(sign(t, jwt.SigningMethodES256, k.ec, "", claims(nil))), ""},
		{"EdDSA", ed, bearer(sign(t, jwt.SigningMethodEdDSA, k.ed, "e1", claims(nil))), ""},
		{"scheme in lower case", hs, http.Header{"Authorization": {"bearer " + hs256(claims(nil))}}, ""},
		{"one of several audiences", hs, bearer(hs256(claims(map[string]any{"aud": []string{"other", "admin"}}))), ""},

		{"no Authorization", hs, nil, middleware.ReasonMissing},
		{"another scheme", hs, http.Header{"Authorization": {"Basic dXNlcjpwYXNz"}}, middleware.ReasonMissing},
		{"empty bearer", hs, http.Header{"Authorization": {"Bearer "}}, middleware.ReasonMalformed},
		{"two Authorization fields", hs, http.Header{"Authorization": {"Bearer " + hs256(claims(nil)), "Bearer x"}}, middleware.ReasonMalformed},
		{"garbage", hs, bearer("not a token"), middleware.ReasonMalformed},
		{"bad base64", hs, bearer("a.b.c"), middleware.ReasonMalformed},
		{"oversize", hs, bearer(strings.Repeat("a", middleware.MaxTokenBytes+1)), middleware.ReasonTooLarge},
		{"bad signature", hs, bearer(sign(t, jwt.SigningMethodHS256, []byte("another secret of thirty-two byt"), "s1", claims(nil))), middleware.ReasonSignature},
		{"tampered claims", hs, bearer(tamper(t, hs256(claims(nil)))), middleware.ReasonSignature},

		{"expired", hs, bearer(hs256(claims(map[string]any{"exp": unix(-31 * time.Second)}))), middleware.ReasonExpired},
		{"expired within leeway", hs, bearer(hs256(claims(map[string]any{"exp": unix(-29 * time.Second)}))), ""},
		{"no exp", hs, bearer(hs256(claims(map[string]any{"exp": nil}))), middleware.ReasonMissingClaim},
		{"nbf within leeway", hs, bearer(hs256(claims(map[string]any{"nbf": unix(29 * time.Second)}))), ""},
		{"nbf after leeway", hs, bearer(hs256(claims(map[string]any{"nbf": unix(31 * time.Second)}))), middleware.ReasonNotYetValid},
		{"iat in the future", hs, bearer(hs256(claims(map[string]any{"iat": unix(time.Minute)}))), middleware.ReasonNotYetValid},
		{"wrong issuer", hs, bearer(hs256(claims(map[string]any{"iss": "https://evil.example"}))), middleware.ReasonIssuer},
		{"no issuer", hs, bearer(hs256(claims(map[string]any{"iss": nil}))), middleware.ReasonMissingClaim},
		{"no audience", hs, bearer(hs256(claims(map[string]any{"aud": nil}))), middleware.ReasonMissingClaim},
		{"wrong audience", hs, bearer(hs256(claims(map[string]any{"aud": "billing"}))), middleware.ReasonAudience},
		{"mistyped exp", hs, bearer(hs256(claims(map[string]any{"exp": "tomorrow"}))), middleware.ReasonInvalid},

		// The classic confusion: an HS256 token whose "secret" is the
		// provider's RSA public key, which an attacker knows.
		{"HS256 with the public key against RS256", rs, bearer(sign(t, jwt.SigningMethodHS256, rsaPEM, "r1", claims(nil))), middleware.ReasonAlgorithm},
		{"HS256 with the public key, kid of the RSA key, both allowed", mixed,
			bearer(sign(t, jwt.SigningMethodHS256, rsaPEM, "r1", claims(nil))), middleware.ReasonAlgorithm},
		{"RS256 token, kid of the HMAC key", mixed, bearer(sign(t, jwt.SigningMethodRS256, k.rsa, "s1", claims(nil))), middleware.ReasonAlgorithm},
		{"alg none", hs, bearer(unsigned(`{"alg":"none","typ":"JWT"}`, `{"sub":"root","exp":9999999999}`)), middleware.ReasonAlgorithm},
		{"alg None", hs, bearer(unsigned(`{"alg":"None"}`, `{"sub":"root","exp":9999999999}`)), middleware.ReasonAlgorithm},
		{"ES256 against HS256", hs, bearer(sign(t, jwt.SigningMethodES256, k.ec, "", claims(nil))), middleware.ReasonAlgorithm},
		{"unknown kid", hs, bearer(sign(t, jwt.SigningMethodHS256, hmacSecret, "s9", claims(nil))), middleware.ReasonUnknownKey},
		{"kid not a string", hs, bearer(withHeader(t, hmacSecret, map[string]any{"kid": 1})), middleware.ReasonUnknownKey},
		{"critical header", hs, bearer(withHeader(t, hmacSecret, map[string]any{"crit": []string{"exp"}})), middleware.ReasonMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, s, reasons := serveAuth(tt.v, tt.fields)
			if tt.reason == "" {
				if w.Code != http.StatusOK || !s.called {
					t.Fatalf("status %d, next called %v, want 200 through: %s %v", w.Code, s.called, w.Body, reasons)
				}
				if s.id == nil || s.id.Subject != "user-7" || s.header.Get("X-Sluice-Subject") != "user-7" {
					t.Fatalf("identity %+v, subject header %q", s.id, s.header.Get("X-Sluice-Subject"))
				}
				if _, ok := s.header["Authorization"]; ok {
					t.Error("the backend would see the client's Authorization")
				}
				return
			}
			if s.called {
				t.Fatal("the next handler ran for a refused token")
			}
			wantUnauthorized(t, w, tt.reason)
			if len(reasons) != 1 || reasons[0] != tt.reason {
				t.Errorf("reported reasons %v, want [%s]", reasons, tt.reason)
			}
		})
	}
}

// wantUnauthorized checks a 401 answer: the RFC 6750 challenge and an
// unauthorized problem body with the reason's fixed text.
func wantUnauthorized(t *testing.T, w *httptest.ResponseRecorder, reason string) {
	t.Helper()
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401: %s", w.Code, w.Body)
	}
	challenge := w.Header().Get("WWW-Authenticate")
	want := `Bearer realm="sluice", error="invalid_token", error_description="`
	if reason == middleware.ReasonMissing {
		want = `Bearer realm="sluice"` // RFC 6750 §3.1: no error code without credentials
	}
	if !strings.HasPrefix(challenge, want) {
		t.Errorf("WWW-Authenticate %q, want it to start with %q", challenge, want)
	}
	if ct := w.Header().Get("Content-Type"); ct != problem.ContentType {
		t.Errorf("Content-Type %q", ct)
	}
	var p struct {
		Type   string `json:"type"`
		Status int    `json:"status"`
		Detail string `json:"detail"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	if p.Type != problem.TypeUnauthorized || p.Status != 401 || p.Detail == "" {
		t.Errorf("problem %+v", p)
	}
	if reason != middleware.ReasonMissing && !strings.Contains(challenge, p.Detail) {
		t.Errorf("challenge %q and detail %q differ", challenge, p.Detail)
	}
}

// tamper changes the token's claims, keeping its signature.
func tamper(t *testing.T, tok string) string {
	t.Helper()
	parts := strings.Split(tok, ".")
	c, _ := json.Marshal(claims(map[string]any{"sub": "admin"}))
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(c) + "." + parts[2]
}

// withHeader returns an HS256 token with extra header parameters.
func withHeader(t *testing.T, key []byte, extra map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(nil))
	for k, v := range extra {
		tok.Header[k] = v
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
