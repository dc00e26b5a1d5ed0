package middleware_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"maps"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sluicehq/sluice/middleware"
)

func TestAuthenticateRemovesSpoofedClaimHeaders(t *testing.T) {
	v := provider(t, []string{"HS256"}, middleware.JWTKey{Key: hmacSecret})
	tok := sign(t, jwt.SigningMethodHS256, hmacSecret, "", claims(map[string]any{"email": nil}))
	fields := bearer(tok)
	fields["X-Sluice-Subject"] = []string{"admin"}
	fields["X_sluice_subject"] = []string{"admin"} // read as X-Sluice-Subject by CGI-style backends
	fields["X-Sluice-Email"] = []string{"root@example.com"}
	fields["X-Other"] = []string{"kept"}
	w, s, _ := serveAuth(v, fields)
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if got := s.header["X-Sluice-Subject"]; len(got) != 1 || got[0] != "user-7" {
		t.Errorf("X-Sluice-Subject = %q, want the token's subject only", got)
	}
	if _, ok := s.header["X_sluice_subject"]; ok {
		t.Error("the underscored spelling of X-Sluice-Subject reached the backend")
	}
	if got, ok := s.header["X-Sluice-Email"]; ok {
		t.Errorf("X-Sluice-Email = %q: the token has no email claim, so the client's copy must go", got)
	}
	if s.header.Get("X-Other") != "kept" {
		t.Error("an unrelated header was removed")
	}

	// A refused request is stripped too, before anything else happens.
	fields = http.Header{"X-Sluice-Subject": {"admin"}}
	if w, s, _ := serveAuth(v, fields); w.Code != http.StatusUnauthorized || s.called {
		t.Fatalf("status %d, called %v", w.Code, s.called)
	}
}

func TestAuthenticateForwardToken(t *testing.T) {
	v, err := middleware.NewJWTVerifier(middleware.JWTSettings{Algorithms: []string{"HS256"},
		Keys: []middleware.JWTKey{{Key: hmacSecret}}, Now: fixedNow, ForwardToken: true,
		ForwardClaims: map[string]string{"roles": "X-Roles", "n": "X-N", "admin": "X-Admin", "org": "X-Org", "bad": "X-Bad"}})
	if err != nil {
		t.Fatal(err)
	}
	tok := sign(t, jwt.SigningMethodHS256, hmacSecret, "", jwt.MapClaims{"exp": t0.Unix() + 60,
		"roles": []string{"read", "write"}, "n": 1700000000, "admin": true, "org": map[string]any{"id": 7}, "bad": "a\r\nX-Evil: 1"})
	w, s, _ := serveAuth(v, bearer(tok))
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if s.header.Get("Authorization") != "Bearer "+tok {
		t.Error("forward_token: the Authorization header did not reach the backend")
	}
	want := map[string]string{"X-Roles": "read,write", "X-N": "1700000000", "X-Admin": "true", "X-Org": `{"id":7}`}
	for h, v := range want {
		if got := s.header.Get(h); got != v {
			t.Errorf("%s = %q, want %q", h, got, v)
		}
	}
	if got, ok := s.header["X-Bad"]; ok {
		t.Errorf("a claim with CR LF was forwarded: %q", got)
	}
	if s.id.Subject != "" {
		t.Errorf("subject %q of a token without sub", s.id.Subject)
	}
}

// TestAuthenticateForwardsNoClaimABackendReadsOtherwise: a claim is
// forwarded only as a value the backend reads back as the token's. A
// recipient strips the whitespace around a field's value (RFC 9110,
// section 5.5), so a subject " admin" would reach it as "admin"; and a list
// claim is joined with commas, so a group named "staff,admin" would be
// read as two. Whoever can choose such a name at the identity provider
// (a username, a group) would be another user or hold another role; such
// claims are not forwarded. A comma inside a single value (a name "Smith,
// John") is that value's.
func TestAuthenticateForwardsNoClaimABackendReadsOtherwise(t *testing.T) {
	claims := map[string]any{"lead": " admin", "trail": "admin\t", "inner": "Smith, John",
		"groups": []string{"staff,admin"}, "padded": []string{"staff", " admin"}, "list": []string{"staff", "ops"},
		"objs": []any{map[string]any{"a": 1, "b": 2}}, "num": 7}
	forward := map[string]string{}
	for c := range claims {
		forward[c] = "X-C-" + c
	}
	v, err := middleware.NewJWTVerifier(middleware.JWTSettings{Algorithms: []string{"HS256"},
		Keys: []middleware.JWTKey{{Key: hmacSecret}}, Now: fixedNow, ForwardClaims: forward})
	if err != nil {
		t.Fatal(err)
	}
	mc := jwt.MapClaims{"exp": t0.Unix() + 60}
	maps.Copy(mc, claims)
	w, s, _ := serveAuth(v, bearer(sign(t, jwt.SigningMethodHS256, hmacSecret, "", mc)))
	if w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	want := map[string]string{"inner": "Smith, John", "list": "staff,ops", "num": "7"}
	for c := range claims {
		got := s.header.Values("X-C-" + c)
		switch w, forwarded := want[c]; {
		case forwarded && (len(got) != 1 || got[0] != w):
			t.Errorf("claim %s forwarded as %q, want %q", c, got, w)
		case !forwarded && got != nil:
			t.Errorf("claim %s forwarded as %q, which the backend reads otherwise", c, got)
		}
	}
}

func TestNewJWTVerifierRefusesBadSettings(t *testing.T) {
	k := testKeys()
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p224, err := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hs := []middleware.JWTKey{{Key: hmacSecret}}
	tests := []struct {
		name  string
		s     middleware.JWTSettings
		field string
		msg   string
	}{
		{"no algorithms", middleware.JWTSettings{Keys: hs}, "algorithms", "at least one"},
		{"alg none", middleware.JWTSettings{Algorithms: []string{"none"}, Keys: hs}, "algorithms", `"none" is not supported`},
		{"unknown alg", middleware.JWTSettings{Algorithms: []string{"HS1"}, Keys: hs}, "algorithms", "not supported"},
		{"no keys", middleware.JWTSettings{Algorithms: []string{"HS256"}}, "keys", "at least one"},
		{"short secret", middleware.JWTSettings{Algorithms: []string{"HS256"}, Keys: []middleware.JWTKey{{Key: []byte("secret")}}}, "keys[0]", "at least 32"},
		{"small RSA key", middleware.JWTSettings{Algorithms: []string{"RS256"}, Keys: []middleware.JWTKey{{Key: &small.PublicKey}}}, "keys[0]", "2048"},
		{"P-224", middleware.JWTSettings{Algorithms: []string{"ES256"}, Keys: []middleware.JWTKey{{Key: &p224.PublicKey}}}, "keys[0]", "curve"},
		{"private key", middleware.JWTSettings{Algorithms: []string{"RS256"}, Keys: []middleware.JWTKey{{Key: k.rsa}}}, "keys[0]", "unsupported key type"},
		{"RSA key for HS256", middleware.JWTSettings{Algorithms: []string{"HS256"}, Keys: []middleware.JWTKey{{Key: &k.rsa.PublicKey}}}, "keys[0]", "fits none"},
		{"HS512 with 32 bytes", middleware.JWTSettings{Algorithms: []string{"HS512"}, Keys: hs}, "keys[0]", "fits none"},
		{"algorithm without key", middleware.JWTSettings{Algorithms: []string{"HS256", "ES256"}, Keys: hs}, "algorithms", "no key fits ES256"},
		{"duplicate kid", middleware.JWTSettings{Algorithms: []string{"HS256"}, Keys: []middleware.JWTKey{{ID: "a", Key: hmacSecret}, {ID: "a", Key: hmacSecret}}}, "keys[1].id", "twice"},
		{"bad header name", middleware.JWTSettings{Algorithms: []string{"HS256"}, Keys: hs, ForwardClaims: map[string]string{"sub": "X Subject"}}, "forward_claims.sub", "letters"},
		{"reserved header", middleware.JWTSettings{Algorithms: []string{"HS256"}, Keys: hs, ForwardClaims: map[string]string{"sub": "authorization"}}, "forward_claims.sub", "Authorization"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := middleware.NewJWTVerifier(tt.s)
			var se *middleware.SettingsError
			if !errors.As(err, &se) || se.Field != tt.field || !strings.Contains(se.Err.Error(), tt.msg) {
				t.Fatalf("error %v, want field %s with %q", err, tt.field, tt.msg)
			}
		})
	}
}

func TestParsePublicKeyPEM(t *testing.T) {
	k := testKeys()
	for _, pub := range []any{&k.rsa.PublicKey, &k.ec.PublicKey, k.ed.Public()} {
		if _, err := middleware.ParsePublicKeyPEM(pemOf(t, pub)); err != nil {
			t.Errorf("%T: %v", pub, err)
		}
	}
	for _, bad := range []string{"", "not PEM", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
		"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"} {
		if _, err := middleware.ParsePublicKeyPEM([]byte(bad)); err == nil {
			t.Errorf("%q parsed", bad)
		}
	}
}

// TestIdentityHeaders: claim headers, Forwarded, every X-Forwarded-* and
// the client-address and URL-override fields go, in any case and with '_'
// for '-'; X-Forwarded-For stays only from a trusted proxy; the rest stays.
func TestIdentityHeaders(t *testing.T) {
	proxies, err := middleware.ParseTrustedProxies([]string{"10.0.0.0/8"})
	if err != nil {
		t.Fatal(err)
	}
	sent := http.Header{
		"X-Sluice-Subject": {"admin"}, "X_sluice_subject": {"admin"}, "X_SLUICE_EMAIL": {"root@example.com"},
		"X-Sluice-Email": {"root@example.com"}, "X-Forwarded-For": {"6.6.6.6"}, "X_forwarded_for": {"6.6.6.6"},
		"X-Forwarded-Host": {"evil"}, "x-forwarded-prefix": {"/admin"}, "X_Forwarded_Ssl": {"on"},
		"Forwarded": {"for=6.6.6.6"}, "X-Forwarded": {"for=6.6.6.6"}, "X-Real-Ip": {"6.6.6.6"}, "X_REAL_IP": {"6.6.6.6"},
		"True-Client-Ip": {"6.6.6.6"}, "Client-Ip": {"6.6.6.6"}, "X-Client-Ip": {"6.6.6.6"},
		"X-Cluster-Client-Ip": {"6.6.6.6"}, "X-Original-Forwarded-For": {"6.6.6.6"},
		"X-Original-Url": {"/admin"}, "X-Rewrite-Url": {"/admin"},
		"X-Other": {"kept"}, "X_other": {"kept"}, "X-Forwardedfor": {"kept: not a forwarding field"},
		"Sluice-Budget": {"ms=100"}, "Sluice_budget": {"ms=99999"}, "Grpc_timeout": {"99S"},
	}
	for _, tt := range []struct {
		peer    string
		keepXFF bool
	}{{"192.0.2.1:5000", false}, {"10.1.2.3:5000", true}, {"[::ffff:10.1.2.3]:5000", true}, {"garbage", false}} {
		var got http.Header
		h := middleware.IdentityHeaders([]string{"x-sluice-subject", "X-Sluice-Email", "X-Sluice-Subject"}, proxies)(
			http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r.Header.Clone() }))
		r, err := http.NewRequest("GET", "/", nil)
		if err != nil {
			t.Fatal(err)
		}
		r.RemoteAddr, r.Header = tt.peer, sent.Clone()
		h.ServeHTTP(nil, r)
		// Sluice-Budget stays for the router to read (and replace).
		want := http.Header{"X-Other": {"kept"}, "X_other": {"kept"}, "X-Forwardedfor": sent["X-Forwardedfor"],
			"Sluice-Budget": {"ms=100"}}
		if tt.keepXFF {
			want["X-Forwarded-For"] = []string{"6.6.6.6"}
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("peer %s: header after IdentityHeaders = %v, want %v", tt.peer, got, want)
		}
	}
}

func TestForwardedHeaders(t *testing.T) {
	v, err := middleware.NewJWTVerifier(middleware.JWTSettings{Algorithms: []string{"HS256"},
		Keys: []middleware.JWTKey{{Key: hmacSecret}}, ForwardClaims: map[string]string{"sub": "x-sluice-subject", "email": "X-Email"}})
	if err != nil {
		t.Fatal(err)
	}
	if got := v.ForwardedHeaders(); strings.Join(got, ",") != "X-Email,X-Sluice-Subject" {
		t.Errorf("ForwardedHeaders = %q", got)
	}
}
