package middleware_test

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sluicehq/sluice/middleware"
)

// FuzzJWTMutations starts from valid tokens (HS256, ES256 and EdDSA, with
// and without kid, under keys fixed so that a token the fuzzer kept means
// the same in every run) and lets the fuzzer mutate their bytes. Property:
// a token that Verify or Authenticate accepts, against a verifier allowing
// all three algorithms (the widest surface for algorithm confusion), with
// the token cache and without, has the header and payload segments of one
// of the originals byte for byte (only the signature segment may differ:
// ECDSA signatures and lax base64 are malleable, and that is harmless), and
// its decoded claims (subject, expiry, audience, issuer, all of them) equal
// the originals'. A bearer token is the client's to write: one with claims
// the issuer did not sign must never reach a backend as the issuer's word.
func FuzzJWTMutations(f *testing.F) {
	digest := func(s string) []byte { d := sha256.Sum256([]byte(s)); return d[:] }
	ec, err := ecdsa.ParseRawPrivateKey(elliptic.P256(), digest("fuzz ES256"))
	if err != nil {
		f.Fatal(err)
	}
	ed := ed25519.NewKeyFromSeed(digest("fuzz EdDSA"))
	algs := []string{"HS256", "ES256", "EdDSA"}
	keys := []middleware.JWTKey{{ID: "s1", Key: hmacSecret}, {ID: "e1", Key: &ec.PublicKey}, {ID: "d1", Key: ed.Public()}}
	cached := provider(f, algs, keys...)
	uncached, err := middleware.NewJWTVerifier(middleware.JWTSettings{
		Issuer: "https://id.example", Audiences: []string{"api", "admin"}, Algorithms: algs, Keys: keys,
		Leeway: 30 * time.Second, Now: fixedNow, CacheSize: -1,
		ForwardClaims: map[string]string{"sub": "X-Sluice-Subject", "email": "x-sluice-email"},
	})
	if err != nil {
		f.Fatal(err)
	}

	var want map[string]any // the claims as a verifier decodes them
	b, err := json.Marshal(claims(nil))
	if err != nil || json.Unmarshal(b, &want) != nil {
		f.Fatal(err)
	}
	signed := map[string]bool{} // header.payload of each original
	for _, s := range []struct {
		method jwt.SigningMethod
		key    any
		kid    string
	}{
		{jwt.SigningMethodHS256, hmacSecret, "s1"}, {jwt.SigningMethodHS256, hmacSecret, ""},
		{jwt.SigningMethodES256, ec, "e1"}, {jwt.SigningMethodES256, ec, ""},
		{jwt.SigningMethodEdDSA, ed, "d1"}, {jwt.SigningMethodEdDSA, ed, ""},
	} {
		tok := sign(f, s.method, s.key, s.kid, claims(nil))
		signed[tok[:strings.LastIndexByte(tok, '.')]] = true
		f.Add(tok)
	}
	f.Add(sign(f, jwt.SigningMethodHS256, hmacSecret, "e1", claims(nil))) // kid of another key's type
	f.Add(sign(f, jwt.SigningMethodHS256, []byte("another secret of thirty-two byt"), "s1", claims(map[string]any{"sub": "root"})))
	// An original's signature on other claims (tamper, for a testing.F).
	parts := strings.Split(sign(f, jwt.SigningMethodHS256, hmacSecret, "s1", claims(nil)), ".")
	if b, err = json.Marshal(claims(map[string]any{"sub": "admin"})); err != nil {
		f.Fatal(err)
	}
	f.Add(parts[0] + "." + base64.RawURLEncoding.EncodeToString(b) + "." + parts[2])
	f.Add(unsigned(`{"alg":"none","typ":"JWT"}`, `{"sub":"root","exp":9999999999}`))

	f.Fuzz(func(t *testing.T, tok string) {
		check := func(how string, id *middleware.Identity, tok string) {
			t.Helper()
			i := strings.LastIndexByte(tok, '.')
			if i < 0 || !signed[tok[:i]] {
				t.Fatalf("%s accepted %q, whose header and payload were never signed", how, tok)
			}
			if id == nil || id.Subject != "user-7" || !reflect.DeepEqual(id.Claims, want) {
				t.Fatalf("%s accepted %q with identity %+v, want claims %v", how, tok, id, want)
			}
		}
		for _, v := range []*middleware.JWTVerifier{cached, uncached} {
			if id, err := v.Verify(tok); err == nil {
				check("Verify", id, tok)
			}
		}
		w, s, _ := serveAuth(cached, bearer(tok))
		if s.called {
			check("Authenticate", s.id, strings.TrimLeft(tok, " "))
			if s.header.Get("X-Sluice-Subject") != "user-7" || s.header.Get("X-Sluice-Email") != "ada@example.com" {
				t.Fatalf("Authenticate accepted %q and forwarded %v", tok, s.header)
			}
		} else if w.Code != http.StatusUnauthorized {
			t.Fatalf("Authenticate answered %d to %q", w.Code, tok)
		}
	})
}
