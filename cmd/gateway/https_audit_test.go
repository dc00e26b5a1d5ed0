package main

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/internal/tlscert/certtest"
)

// redirectCase is a Host sent to a redirect_https listener and what it
// must be answered: a 308 to want, or a 400 when want is empty.
type redirectCase struct{ host, want string }

// checkRedirects sends a GET of /v1?a=b for every case through send and
// checks the answers: the redirects, and the problem+json refusals that
// name the host and carry no Location.
func checkRedirects(t *testing.T, send func(host string) (*http.Response, string), cases []redirectCase) {
	t.Helper()
	for _, tt := range cases {
		resp, body := send(tt.host)
		loc := resp.Header.Get("Location")
		if tt.want != "" {
			if resp.StatusCode != http.StatusPermanentRedirect || loc != tt.want {
				t.Errorf("Host %q: %d Location %q, want 308 %q", tt.host, resp.StatusCode, loc, tt.want)
			}
			continue
		}
		var p struct{ Type, Detail string }
		if err := json.Unmarshal([]byte(body), &p); err != nil {
			t.Errorf("Host %q: body %q: %v", tt.host, body, err)
		}
		if resp.StatusCode != http.StatusBadRequest || loc != "" ||
			resp.Header.Get("Content-Type") != problem.ContentType || p.Type != problem.TypeBadRequest ||
			!strings.Contains(p.Detail, "not served") {
			t.Errorf("Host %q: %d Location %q %s %q, want a 400 problem saying the host is not served",
				tt.host, resp.StatusCode, loc, resp.Header.Get("Content-Type"), body)
		}
	}
}

// A redirect_https listener of a gateway that serves TLS itself redirects
// only the hosts its certificates name (every certificate of the TLS
// listener, DNS names in any case, with or without the trailing dot, a
// wildcard by one label, addresses) and refuses any other Host with a 400
// problem, where it used to send every Host to https://<that host>/ (an
// open redirect). /healthz and /readyz answer whatever the Host.
func TestRedirectHTTPSOnlyRedirectsHostsServedOverTLS(t *testing.T) {
	dir := t.TempDir()
	ca := certtest.NewCA(t)
	ca.Server(t, "api.example.com", "*.example.org", "127.0.0.1", "::1").Write(t, dir, "site")
	ca.Server(t, "second.example.net").Write(t, dir, "second")
	tg := startServing(t, dir, `  - address: 127.0.0.1:0
    redirect_https: true
  - address: 127.0.0.1:0
    tls:
      cert_file: site.crt
      key_file: site.key
      certificates: [{cert_file: second.crt, key_file: second.key}]
`, budgetBackend(t), time.Hour)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: waitLimit,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(host, path string) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+tg.addrs[0]+path, nil)
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	checkRedirects(t, func(host string) (*http.Response, string) { return get(host, "/v1?a=b") }, []redirectCase{
		{"api.example.com", "https://api.example.com/v1?a=b"},
		{"api.example.com:80", "https://api.example.com/v1?a=b"},
		{"API.Example.COM.", "https://API.Example.COM./v1?a=b"},
		{"second.example.net:8080", "https://second.example.net/v1?a=b"},
		{"a.example.org", "https://a.example.org/v1?a=b"},
		{"127.0.0.1:80", "https://127.0.0.1/v1?a=b"},
		{"[::1]:80", "https://[::1]/v1?a=b"},
		{"evil.com", ""},
		{"evil.com:80", ""},
		{"example.org", ""},     // the wildcard covers one label, not none
		{"a.b.example.org", ""}, // nor two
		{"api.example.com.evil.com", ""},
		{"10.0.0.1", ""},
		{"[::2]:80", ""},
	})
	for _, path := range []string{"/healthz", "/readyz"} {
		if resp, body := get("evil.com", path); resp.StatusCode != http.StatusOK {
			t.Errorf("%s with a Host not served: %d %q, want 200", path, resp.StatusCode, body)
		}
	}
}

// The acme domains of a TLS listener are hosts it serves, beside its
// certificates' names; a gateway with no TLS listener (TLS ends in front
// of it) knows no host and redirects any plain one, as before.
func TestRedirectHTTPSHostsOfACMEAndWithoutTLS(t *testing.T) {
	send := func(h http.Handler) func(string) (*http.Response, string) {
		return func(host string) (*http.Response, string) {
			req := httptest.NewRequest("GET", "/v1?a=b", nil)
			req.Host = host
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			return rec.Result(), rec.Body.String()
		}
	}
	acme, err := servedOverTLS([]config.Listener{
		{Address: ":80", RedirectHTTPS: true},
		{Address: ":443", TLS: &config.TLS{ACME: &config.ACME{Domains: []string{"api.example.com", "www.example.com"}}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	checkRedirects(t, send(httpsRedirect{port: 8443, served: acme}), []redirectCase{
		{"www.example.com:80", "https://www.example.com:8443/v1?a=b"},
		{"WWW.example.com.", "https://WWW.example.com.:8443/v1?a=b"},
		{"evil.com", ""},
		{"example.com", ""},
	})

	none, err := servedOverTLS([]config.Listener{{Address: ":80", RedirectHTTPS: true}})
	if err != nil {
		t.Fatal(err)
	}
	checkRedirects(t, send(httpsRedirect{served: none}), []redirectCase{
		{"evil.com", "https://evil.com/v1?a=b"},
		{"10.0.0.1:80", "https://10.0.0.1/v1?a=b"},
	})
}
