package middleware_test

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/middleware"
)

func apiKey(name, key string, claims map[string][]string) middleware.APIKey {
	return middleware.APIKey{Name: name, SHA256: sha256.Sum256([]byte(key)), Claims: claims}
}

// TestAPIKeysLetThroughTheKeysOfTheSetAlone: a request with a key of the
// set reaches the handler as its holder, its name in the forwarded field
// (the client's own replaced), without the key's field (nor a spelling of
// it a backend would read as the same, nor a Connection option naming
// it); any other is answered 401, and the reason counted.
func TestAPIKeysLetThroughTheKeysOfTheSetAlone(t *testing.T) {
	keys, err := middleware.NewAPIKeys("", "X-Sluice-Client", []middleware.APIKey{
		apiKey("acme", "k-acme", map[string][]string{"scope": {"orders:read"}}), apiKey("globex", "k-globex", nil)})
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	var seen http.Header
	var subject string
	var claims map[string]any
	h := keys.Authenticate(func(r string) { reasons = append(reasons, r) })(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = r.Header.Clone()
		id, _ := middleware.IdentityFrom(r.Context())
		subject, claims = id.Subject, id.Claims
	}))
	for _, tc := range []struct {
		name   string
		fields map[string][]string
		status int
		reason string
	}{
		{"acme", map[string][]string{"X-Api-Key": {"k-acme"}, "X_api_key": {"k-acme"}, "X-Sluice-Client": {"globex"},
			"Connection": {"X-Api-Key, X-Sluice-Client, keep-alive"}}, 200, ""},
		{"no key", nil, 401, middleware.ReasonAPIKeyMissing},
		{"empty", map[string][]string{"X-Api-Key": {""}}, 401, middleware.ReasonAPIKeyMissing},
		{"two", map[string][]string{"X-Api-Key": {"k-acme", "k-globex"}}, 401, middleware.ReasonAPIKeyMissing},
		{"unknown", map[string][]string{"X-Api-Key": {"k-acme2"}}, 401, middleware.ReasonAPIKeyUnknown},
		{"a bearer token is no key", map[string][]string{"Authorization": {"Bearer k-acme"}}, 401, middleware.ReasonAPIKeyMissing},
	} {
		reasons, seen, subject = nil, nil, ""
		req := httptest.NewRequest("GET", "/", nil)
		for k, v := range tc.fields {
			req.Header[k] = v
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, rec.Code, tc.status)
			continue
		}
		if tc.status == 200 {
			if subject != "acme" || claims["sub"] != "acme" || len(claims["scope"].([]any)) != 1 {
				t.Errorf("%s: identity %q %v", tc.name, subject, claims)
			}
			if seen["X-Api-Key"] != nil || seen["X_api_key"] != nil || seen.Get("Connection") != "keep-alive" ||
				len(seen["X-Sluice-Client"]) != 1 || seen.Get("X-Sluice-Client") != "acme" {
				t.Errorf("%s: forwarded %v", tc.name, seen)
			}
			continue
		}
		body := rec.Body.String()
		if len(reasons) != 1 || reasons[0] != tc.reason || seen != nil ||
			!strings.HasPrefix(rec.Header().Get("WWW-Authenticate"), "APIKey ") ||
			rec.Header().Get("Content-Type") != "application/problem+json" || strings.Contains(body, "k-acme") {
			t.Errorf("%s: reasons %v, header %v, body %s", tc.name, reasons, rec.Header(), body)
		}
	}
}

// TestAPIKeysSetReplacesTheKeys: a new set serves the next requests; a
// set with a name or a key twice is refused and the old one kept.
func TestAPIKeysSetReplacesTheKeys(t *testing.T) {
	keys, err := middleware.NewAPIKeys("Api-Key", "", []middleware.APIKey{apiKey("acme", "old", nil)})
	if err != nil {
		t.Fatal(err)
	}
	status := func(key string) int {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "/", nil)
		req.Header.Set("Api-Key", key)
		keys.Authenticate(nil)(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).ServeHTTP(rec, req)
		return rec.Code
	}
	if status("old") != 200 || status("new") != 401 {
		t.Fatal("the first set")
	}
	if err := keys.Set([]middleware.APIKey{apiKey("acme", "new", nil)}); err != nil {
		t.Fatal(err)
	}
	if status("old") != 401 || status("new") != 200 {
		t.Fatal("after Set")
	}
	for _, bad := range [][]middleware.APIKey{
		{apiKey("a", "x", nil), apiKey("a", "y", nil)},
		{apiKey("a", "x", nil), apiKey("b", "x", nil)},
		{apiKey("", "x", nil)},
		{apiKey("a", "x", map[string][]string{"sub": {"root"}})},
	} {
		if err := keys.Set(bad); err == nil {
			t.Errorf("Set(%v) took it", bad)
		}
	}
	if status("new") != 200 || keys.Len() != 1 {
		t.Fatal("a refused set replaced the keys")
	}
	for _, h := range []string{"Sluice-Budget", "x-forwarded-for", "Content-Length", "bad header"} {
		if _, err := middleware.NewAPIKeys(h, "", nil); err == nil {
			t.Errorf("header %q taken", h)
		}
	}
	d, err := middleware.ParseSHA256(hex.EncodeToString(keys2sum("new")))
	if err != nil || d != sha256.Sum256([]byte("new")) {
		t.Errorf("ParseSHA256: %x, %v", d, err)
	}
	if _, err := middleware.ParseSHA256("abc"); err == nil {
		t.Error("ParseSHA256 took a short digest")
	}
}

func keys2sum(key string) []byte {
	s := sha256.Sum256([]byte(key))
	return s[:]
}
