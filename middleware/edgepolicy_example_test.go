package middleware_test

import (
	"crypto/sha256"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/sluicehq/sluice/middleware"
)

// A route for an office's network alone: any other client gets 403, its
// address read through the trusted load balancer's X-Forwarded-For.
func ExampleAllowFrom() {
	office, _ := middleware.ParseNetworks([]string{"198.51.100.0/24"})
	lb, _ := middleware.ParseTrustedProxies([]string{"10.0.0.1"})
	h := middleware.AllowFrom(office, lb, nil)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	for _, client := range []string{"198.51.100.7", "203.0.113.9"} {
		r := httptest.NewRequest("GET", "/reports", nil)
		r.RemoteAddr = "10.0.0.1:40000" // the balancer
		r.Header.Set("X-Forwarded-For", client)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		fmt.Println(client, w.Code)
	}
	// Output:
	// 198.51.100.7 200
	// 203.0.113.9 403
}

// What a route asks of a verified token's claims: one of the scopes, the
// scope claim read as OAuth 2.0 writes it, space-separated.
func ExampleNewClaimRequirements() {
	req, _ := middleware.NewClaimRequirements(map[string][]string{"scope": {"orders:write"}})
	fmt.Println(req.Allows(map[string]any{"scope": "orders:read orders:write"}))
	fmt.Println(req.Allows(map[string]any{"scope": "orders:read"}))
	// Output:
	// true
	// false
}

// Header edits of a route: a field its backend reads added to every
// request, the framework's Server field taken off every answer.
func ExampleNewHeaderRules() {
	rules, _ := middleware.NewHeaderRules(
		middleware.HeaderEdits{Set: map[string]string{"X-Api-Version": "2"}},
		middleware.HeaderEdits{Remove: []string{"Server"}}, nil)
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "framework/1.0")
		fmt.Fprint(w, "version ", r.Header.Get("X-Api-Version"))
	})
	h := rules.Answers()(rules.Requests()(backend))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
	fmt.Printf("%q %s\n", w.Header().Get("Server"), w.Body)
	// Output: "" version 2
}

// API keys checked at the edge: the set holds the keys' digests, a
// request with a key of it reaches the backend as the key's holder,
// without the key.
func ExampleNewAPIKeys() {
	keys, _ := middleware.NewAPIKeys("", "X-Client", []middleware.APIKey{
		{Name: "acme", SHA256: sha256.Sum256([]byte("s3cr3t-acme"))}})
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "client %s, key %q", r.Header.Get("X-Client"), r.Header.Get("X-Api-Key"))
	})
	h := keys.Authenticate(nil)(backend)
	for _, key := range []string{"s3cr3t-acme", "guess"} {
		r := httptest.NewRequest("GET", "/orders", nil)
		r.Header.Set("X-Api-Key", key)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusOK {
			fmt.Println(w.Code, w.Header().Get("WWW-Authenticate"))
			continue
		}
		fmt.Println(w.Code, w.Body)
	}
	// Output:
	// 200 client acme, key ""
	// 401 APIKey realm="sluice", header="X-Api-Key"
}
