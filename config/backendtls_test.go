package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/tlscert/certtest"
)

// TestBackendTLSErrorsNameTheField: services.<name>.tls's mistakes are
// refused at load, at the field, and its files are read then.
func TestBackendTLSErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	ca := certtest.NewCA(t)
	caFile := ca.WriteCA(t, dir, "ca.pem")
	certFile, keyFile := ca.Client(t, "gateway").Write(t, dir, "client")
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	static := "registry:\n  static:\n    - {service: s, address: 127.0.0.1:1}\nservices:\n  s:\n"
	tests := []struct{ name, tls, want string }{
		{"cert without key", "    tls: {cert_file: " + certFile + "}\n", "gateway.yaml:6:10: services.s.tls: give both cert_file and key_file, or neither"},
		{"missing ca", "    tls: {ca_file: " + filepath.Join(dir, "none.pem") + "}\n", "gateway.yaml:6:20: services.s.tls.ca_file: open "},
		{"ca not PEM", "    tls: {ca_file: " + notPEM + "}\n", "holds no PEM certificate"},
		{"key of another cert", "    tls: {cert_file: " + certFile + ", key_file: " + caFile + "}\n", "services.s.tls.cert_file: certificate"},
		{"version", "    tls:\n      min_version: \"1.1\"\n", "gateway.yaml:7:20: services.s.tls.min_version: unknown TLS version \"1.1\""},
	}
	for _, tt := range tests {
		_, err := Parse("gateway.yaml", []byte(static+tt.tls))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
	c, err := ParseIn("gateway.yaml", dir, []byte(static+"    tls: {ca_file: ca.pem, cert_file: client.crt, key_file: client.key}\n"))
	if err != nil {
		t.Fatal(err)
	}
	b := c.Services["s"].TLS
	cfg := b.ClientConfig("s")
	if cfg.ServerName != "s" || cfg.RootCAs == nil || !cfg.RootCAs.Equal(ca.Pool) {
		t.Errorf("ServerName %q, roots %v: want the service's name and the CA file's", cfg.ServerName, cfg.RootCAs)
	}
	if p, ok := b.Pair(); !ok || p.CertFile != certFile || p.KeyFile != keyFile {
		t.Errorf("pair %+v %v, want %s and %s, taken from the file's directory", p, ok, certFile, keyFile)
	}
}
