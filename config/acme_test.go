package config_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/config"
)

func TestACMEListenerDefaults(t *testing.T) {
	dir := tlsDir(t)
	t.Setenv("XDG_DATA_HOME", filepath.Join(dir, "data"))
	cfg, err := loadIn(t, dir, `listeners:
  - address: 127.0.0.1:8443
    tls:
      acme: {domains: [Example.COM., www.example.com]}
  - address: 127.0.0.1:8444
    tls:
      cert_file: site.crt
      key_file: site.key
      acme:
        directory: https://127.0.0.1:14000/dir
        email: ops@example.com
        domains: [api.example.com]
        storage: certs
        ca_roots: ca.pem
        challenge: http-01
        renewal_window_ratio: 0.5
        profile: shortlived
  - address: 127.0.0.1:8080
`)
	if err != nil {
		t.Fatal(err)
	}
	a := cfg.Listeners[0].TLS.ACME
	if a.Directory != config.DefaultACMEDirectory || a.Challenge != config.ChallengeTLSALPN ||
		a.RenewalWindowRatio != config.DefaultRenewalWindowRatio || a.Roots() != nil ||
		a.Storage != filepath.Join(dir, "data", "sluice", "acme") {
		t.Errorf("defaults: %+v", *a)
	}
	if got := strings.Join(a.Domains, ","); got != "example.com,www.example.com" {
		t.Errorf("domains %q, want lower case without the final dot", got)
	}
	b := cfg.Listeners[1].TLS.ACME
	if b.Storage != filepath.Join(dir, "certs") || b.Roots() == nil || b.Challenge != config.ChallengeHTTP ||
		b.RenewalWindowRatio != 0.5 || b.Profile != "shortlived" || b.Email != "ops@example.com" {
		t.Errorf("given values: %+v", *b)
	}
}

func TestACMEErrorsPointAtTheField(t *testing.T) {
	dir := tlsDir(t)
	const l = "listeners:\n  - address: 127.0.0.1:0\n    tls:\n"
	const clear = "  - address: 127.0.0.1:1\n"
	tests := []struct {
		name      string
		yaml      string
		line, col int
		path, msg string
	}{
		{"no domains", l + "      acme: {email: a@example.com}\n", 4, 13, "listeners[0].tls.acme", "needs domains"},
		{"not https", l + "      acme: {directory: \"http://ca.example/dir\", domains: [a.example]}\n", 4, 25, "listeners[0].tls.acme.directory", "not an https URL"},
		{"no host", l + "      acme: {directory: \"https:///dir\", domains: [a.example]}\n", 4, 25, "listeners[0].tls.acme.directory", "not an https URL"},
		{"bad email", l + "      acme: {email: nobody, domains: [a.example]}\n", 4, 21, "listeners[0].tls.acme.email", "not an email"},
		{"wildcard", l + "      acme: {domains: [a.example, \"*.a.example\"]}\n", 4, 35, "listeners[0].tls.acme.domains[1]", "dns-01"},
		{"ip", l + "      acme: {domains: [127.0.0.1]}\n", 4, 24, "listeners[0].tls.acme.domains[0]", "IP address"},
		{"not a name", l + "      acme: {domains: [\"a_b.example\"]}\n", 4, 24, "listeners[0].tls.acme.domains[0]", "not a host name"},
		{"twice", l + "      acme: {domains: [a.example, A.example]}\n", 4, 35, "listeners[0].tls.acme.domains[1]", "listed twice"},
		{"unknown challenge", l + "      acme: {domains: [a.example], challenge: dns-01}\n", 4, 47, "listeners[0].tls.acme.challenge", "unknown challenge"},
		{"ratio", l + "      acme: {domains: [a.example], renewal_window_ratio: 1}\n", 4, 58, "listeners[0].tls.acme.renewal_window_ratio", "between 0 and 1"},
		{"zero ratio", l + "      acme: {domains: [a.example], renewal_window_ratio: 0}\n", 4, 58, "listeners[0].tls.acme.renewal_window_ratio", "between 0 and 1"},
		{"roots absent", l + "      acme: {domains: [a.example], ca_roots: nope.pem}\n", 4, 46, "listeners[0].tls.acme.ca_roots", "no such file"},
		{"roots not PEM", l + "      acme: {domains: [a.example], ca_roots: garbage.pem}\n", 4, 46, "listeners[0].tls.acme.ca_roots", "no PEM certificate"},
		{"http-01 without a cleartext listener", l + "      acme: {domains: [a.example], challenge: http-01}\n", 4, 47, "listeners[0].tls.acme.challenge", "cleartext listener"},
		{"a name on two listeners", l + "      acme: {domains: [a.example]}\n  - address: 127.0.0.1:1\n    tls:\n      acme: {domains: [b.example, a.example]}\n",
			7, 35, "listeners[1].tls.acme.domains[1]", "listeners[0].tls.acme already"},
		{"a name a static certificate covers", l + "      cert_file: site.crt\n      key_file: site.key\n      acme: {domains: [a.example]}\n" + clear,
			6, 24, "listeners[0].tls.acme.domains[0]", "static certificate"},
		{"acme on admin", "admin:\n  address: 127.0.0.1:0\n  tls:\n    acme: {domains: [a.example]}\n", 4, 11, "admin.tls.acme", "route listeners"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadIn(t, dir, tt.yaml)
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Load = %v, want a *config.Error", err)
			}
			if ce.Line != tt.line || ce.Column != tt.col || ce.Path != tt.path || !strings.Contains(ce.Msg, tt.msg) {
				t.Errorf("got %v\nwant gw.yaml:%d:%d: %s: ...%s...", err, tt.line, tt.col, tt.path, tt.msg)
			}
		})
	}
}
