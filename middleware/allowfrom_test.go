package middleware

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/sluicehq/sluice/internal/problem"
)

// TestAllowFromServesOnlyItsNetworks asks a route allowed from 10.1.0.0/16
// and 2001:db8:1::/48, behind a trusted proxy at 192.0.2.1, from clients
// in and out of them: direct, through the proxy (X-Forwarded-For read from
// the right), forging X-Forwarded-For without the proxy or before it, and
// with an address that cannot be read.
func TestAllowFromServesOnlyItsNetworks(t *testing.T) {
	allowed, err := ParseNetworks([]string{"10.1.0.0/16", "2001:db8:1::/48"})
	if err != nil {
		t.Fatal(err)
	}
	proxies, err := ParseTrustedProxies([]string{"192.0.2.1"})
	if err != nil {
		t.Fatal(err)
	}
	refused := 0
	h := AllowFrom(allowed, proxies, func() { refused++ })(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	for _, tc := range []struct {
		peer, xff string
		served    bool
	}{
		{"10.1.2.3:5000", "", true},
		{"[::ffff:10.1.2.3]:5000", "", true},
		{"[2001:db8:1:2::7]:5000", "", true},
		{"10.2.0.1:5000", "", false},
		{"[2001:db8:2::7]:5000", "", false},
		{"192.0.2.1:5000", "10.1.0.9", true},               // through the proxy
		{"192.0.2.1:5000", "10.1.0.9, 203.0.113.5", false}, // forged before the proxy's entry
		{"192.0.2.1:5000", "", false},                      // the proxy itself is not allowed
		{"203.0.113.5:5000", "10.1.0.9", false},            // forged, no proxy
		{"not an address", "", false},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.peer
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		w := httptest.NewRecorder()
		before := refused
		h.ServeHTTP(w, r)
		if served := w.Code == http.StatusNoContent; served != tc.served {
			t.Errorf("peer %s, X-Forwarded-For %q: status %d, want served %v", tc.peer, tc.xff, w.Code, tc.served)
			continue
		}
		if tc.served {
			continue
		}
		var p struct{ Type string }
		if w.Code != http.StatusForbidden || w.Header().Get("Content-Type") != problem.ContentType ||
			json.Unmarshal(w.Body.Bytes(), &p) != nil || p.Type != problem.TypeForbidden || refused != before+1 {
			t.Errorf("peer %s: %d %s %s (refusals %d), want 403 forbidden counted", tc.peer, w.Code, w.Header().Get("Content-Type"), w.Body, refused-before)
		}
	}
}
