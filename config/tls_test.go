package config_test

import (
	"crypto/tls"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/internal/tlscert/certtest"
)

// tlsDir writes, in a new directory, a certificate and key (site.crt,
// site.key), another certificate's key (other.key) and a CA (ca.pem).
func tlsDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	ca := certtest.NewCA(t)
	ca.Server(t, "a.example").Write(t, dir, "site")
	ca.Server(t, "b.example").Write(t, dir, "other")
	ca.WriteCA(t, dir, "ca.pem")
	if err := os.WriteFile(filepath.Join(dir, "garbage.pem"), []byte("hello\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

func loadIn(t *testing.T, dir, text string) (*config.Config, error) {
	t.Helper()
	path := filepath.Join(dir, "gw.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return config.Load(path)
}

func TestTLSListener(t *testing.T) {
	dir := tlsDir(t)
	cfg, err := loadIn(t, dir, `listeners:
  - address: 127.0.0.1:8443
    tls:
      cert_file: site.crt
      key_file: site.key
      certificates:
        - {cert_file: other.crt, key_file: other.key}
      client_ca_file: ca.pem
      hsts: {include_subdomains: true}
  - address: 127.0.0.1:8080
    redirect_https: true
    https_port: 8443
  - {address: 127.0.0.1:8081, h2c: true}
`)
	if err != nil {
		t.Fatal(err)
	}
	tl := cfg.Listeners[0].TLS
	pairs := tl.Pairs()
	if len(pairs) != 2 || pairs[0].CertFile != filepath.Join(dir, "site.crt") || pairs[1].KeyFile != filepath.Join(dir, "other.key") {
		t.Errorf("Pairs() = %v, want site then other, relative to the file's directory", pairs)
	}
	base := tl.ServerConfig()
	if base.MinVersion != tls.VersionTLS12 || base.ClientAuth != tls.RequireAndVerifyClientCert || base.ClientCAs == nil {
		t.Errorf("ServerConfig() min %x auth %v CAs %v; want TLS 1.2, verified client certificates", base.MinVersion, base.ClientAuth, base.ClientCAs)
	}
	if h := tl.HSTS; h.MaxAge != config.DefaultHSTSMaxAge || !h.IncludeSubdomains {
		t.Errorf("HSTS = %+v, want the default max age", *h)
	}

	cfg, err = loadIn(t, dir, "listeners:\n  - address: 127.0.0.1:8443\n    tls: {cert_file: site.crt, key_file: site.key, min_version: \"1.3\", hsts: {max_age: 0s}}\n")
	if err != nil {
		t.Fatal(err)
	}
	if tl := cfg.Listeners[0].TLS; tl.ServerConfig().MinVersion != tls.VersionTLS13 || tl.ServerConfig().ClientAuth != tls.NoClientCert || tl.HSTS.MaxAge != 0 {
		t.Errorf("min_version 1.3, hsts max_age 0s: got %x, %v, %v", tl.ServerConfig().MinVersion, tl.ServerConfig().ClientAuth, tl.HSTS.MaxAge)
	}
}

func TestTLSListenerErrorsPointAtTheField(t *testing.T) {
	dir := tlsDir(t)
	const l = "listeners:\n  - address: 127.0.0.1:0\n"
	tests := []struct {
		name      string
		yaml      string
		line, col int
		path, msg string
	}{
		{"missing key file", l + "    tls: {cert_file: site.crt}\n", 3, 10, "listeners[0].tls", "both cert_file and key_file"},
		{"no certificate", l + "    tls: {min_version: \"1.2\"}\n", 3, 10, "listeners[0].tls", "needs a certificate"},
		{"cert file absent", l + "    tls: {cert_file: nope.crt, key_file: site.key}\n", 3, 22, "listeners[0].tls.cert_file", "no such file"},
		{"key file absent", l + "    tls: {cert_file: site.crt, key_file: nope.key}\n", 3, 42, "listeners[0].tls.key_file", "no such file"},
		{"key of another certificate", l + "    tls:\n      cert_file: site.crt\n      key_file: other.key\n", 4, 18, "listeners[0].tls.cert_file", "does not match"},
		{"not a certificate", l + "    tls: {cert_file: garbage.pem, key_file: site.key}\n", 3, 22, "listeners[0].tls.cert_file", "garbage.pem"},
		{"bad SNI certificate", l + "    tls:\n      certificates:\n        - {cert_file: site.crt, key_file: other.key}\n",
			5, 23, "listeners[0].tls.certificates[0].cert_file", "does not match"},
		{"TLS 1.1", l + "    tls: {cert_file: site.crt, key_file: site.key, min_version: \"1.1\"}\n", 3, 65, "listeners[0].tls.min_version", "older versions are not served"},
		{"unknown client_auth", l + "    tls: {cert_file: site.crt, key_file: site.key, client_auth: always}\n", 3, 65, "listeners[0].tls.client_auth", "unknown client_auth"},
		{"verify without CA", l + "    tls: {cert_file: site.crt, key_file: site.key, client_auth: verify}\n", 3, 65, "listeners[0].tls.client_auth", "give client_ca_file"},
		{"request with a CA", l + "    tls: {cert_file: site.crt, key_file: site.key, client_ca_file: ca.pem, client_auth: request}\n", 3, 89, "listeners[0].tls.client_auth", "does not verify"},
		{"CA file of no certificate", l + "    tls: {cert_file: site.crt, key_file: site.key, client_ca_file: garbage.pem}\n", 3, 68, "listeners[0].tls.client_ca_file", "no PEM certificate"},
		{"fractional HSTS", l + "    tls: {cert_file: site.crt, key_file: site.key, hsts: {max_age: 1500ms}}\n", 3, 68, "listeners[0].tls.hsts.max_age", "whole seconds"},
		{"tls on the lean server", l + "    server: sluice\n    tls: {cert_file: site.crt, key_file: site.key}\n", 3, 13, "listeners[0].server", "net/http's server"},
		{"h2c on the lean server", l + "    server: sluice\n    h2c: true\n", 3, 13, "listeners[0].server", "net/http's server"},
		{"watch_after with tls", l + "    watch_after: 5ms\n    tls: {cert_file: site.crt, key_file: site.key}\n", 3, 18, "listeners[0].watch_after", "watches every request"},
		{"h2c with tls", l + "    h2c: true\n    tls: {cert_file: site.crt, key_file: site.key}\n", 3, 10, "listeners[0].h2c", "ALPN"},
		{"redirect with tls", l + "    redirect_https: true\n    tls: {cert_file: site.crt, key_file: site.key}\n", 3, 21, "listeners[0].redirect_https", "cleartext"},
		{"https_port alone", l + "    https_port: 8443\n", 3, 17, "listeners[0].https_port", "set redirect_https"},
		{"https_port too big", l + "    redirect_https: true\n    https_port: 70000\n", 4, 17, "listeners[0].https_port", "1 to 65535"},
		{"admin tls", "admin:\n  address: 127.0.0.1:0\n  tls: {cert_file: site.crt}\n", 3, 8, "admin.tls", "both cert_file"},
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

// TestSpecialFilesRefused: a certificate, key or CA bundle named by the
// operator that is a named pipe or a device is refused at its field. Read
// as a file, a pipe with no writer held the load (and every reload) forever
// and /dev/zero filled memory.
func TestSpecialFilesRefused(t *testing.T) {
	dir := tlsDir(t)
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe.pem"), 0o600); err != nil {
		t.Skipf("no named pipes here: %v", err)
	}
	if err := os.Symlink("/dev/zero", filepath.Join(dir, "zero.pem")); err != nil {
		t.Fatal(err)
	}
	const l = "listeners:\n  - address: 127.0.0.1:0\n"
	tests := []struct {
		name, yaml, path string
	}{
		{"CA bundle a pipe", l + "    tls: {cert_file: site.crt, key_file: site.key, client_ca_file: pipe.pem}\n", "listeners[0].tls.client_ca_file"},
		{"CA bundle a device", l + "    tls: {cert_file: site.crt, key_file: site.key, client_ca_file: zero.pem}\n", "listeners[0].tls.client_ca_file"},
		{"certificate a pipe", l + "    tls: {cert_file: pipe.pem, key_file: site.key}\n", "listeners[0].tls.cert_file"},
		{"key a device", l + "    tls: {cert_file: site.crt, key_file: zero.pem}\n", "listeners[0].tls.cert_file"},
		{"ACME roots a pipe", l + "    tls: {acme: {domains: [a.example], ca_roots: pipe.pem}}\n", "listeners[0].tls.acme.ca_roots"},
		{"JWT key a pipe", "auth:\n  jwt:\n    users:\n      algorithms: [ES256]\n      keys: [{public_key_file: pipe.pem}]\n", "auth.jwt.users.keys[0].public_key_file"},
		{"JWKS CA a device", "auth:\n  jwt:\n    users:\n      algorithms: [ES256]\n      jwks: {url: \"https://a.example/jwks\", ca_file: zero.pem}\n", "auth.jwt.users.jwks.ca_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "gw.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() {
				_, err := config.Load(path)
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("the load has not returned after 10 s")
			}
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Path != tt.path || !strings.Contains(ce.Msg, "not a regular file") {
				t.Errorf("got %v, want an error at %s: not a regular file", err, tt.path)
			}
		})
	}
}
