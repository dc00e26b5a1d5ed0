package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/certmagic"
	"go.uber.org/zap"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/internal/tlscert"
	"github.com/sluicehq/sluice/internal/tlscert/certtest"
)

// Every field of an acme block reaches certmagic, and its own challenge
// listener is pointed at the gateway's listener, which is bound, so that
// it never opens a port of its own.
func TestCertmagicConfigCarriesTheACMEBlock(t *testing.T) {
	dir := t.TempDir()
	certtest.NewCA(t).WriteCA(t, dir, "ca.pem")
	cfg, _ := loadFile(t, `listeners:
  - address: 127.0.0.1:0
    tls:
      acme:
        directory: https://ca.example/dir
        email: ops@example.com
        domains: [a.example, b.example]
        storage: `+filepath.Join(dir, "store")+`
        ca_roots: `+filepath.Join(dir, "ca.pem")+`
        challenge: http-01
        renewal_window_ratio: 0.25
        profile: shortlived
  - address: 127.0.0.1:0
registry:
  static: [{service: s, address: "127.0.0.1:9"}]
routes:
  - {path: /p, service: s}
`)
	site := newACMESite(cfg.Listeners[0].TLS.ACME)
	site.addr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443}
	cleartext := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 2), Port: 8080}
	cache := certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return site.magic, nil },
		Logger:           zap.NewNop(),
	})
	defer cache.Stop()
	g := &gateway{}
	magic := g.certmagicConfig(cache, site, cleartext)
	if magic.RenewalWindowRatio != 0.25 || magic.DefaultServerName != "a.example" {
		t.Errorf("config: ratio %v, default name %q", magic.RenewalWindowRatio, magic.DefaultServerName)
	}
	if fs, ok := magic.Storage.(*certmagic.FileStorage); !ok || fs.Path != filepath.Join(dir, "store") {
		t.Errorf("storage %#v", magic.Storage)
	}
	iss := magic.Issuers[0].(*certmagic.ACMEIssuer)
	if iss.CA != "https://ca.example/dir" || iss.Email != "ops@example.com" || !iss.Agreed || iss.Profile != "shortlived" || iss.TrustedRoots == nil {
		t.Errorf("issuer: %+v", iss)
	}
	if iss.DisableHTTPChallenge || !iss.DisableTLSALPNChallenge || iss.ListenHost != "127.0.0.2" || iss.AltHTTPPort != 8080 {
		t.Errorf("http-01: disabled http %v, tls-alpn %v, at %s:%d; want http-01 only, at the cleartext listener",
			iss.DisableHTTPChallenge, iss.DisableTLSALPNChallenge, iss.ListenHost, iss.AltHTTPPort)
	}

	site.cfg.Challenge = "tls-alpn-01"
	iss = g.certmagicConfig(cache, site, cleartext).Issuers[0].(*certmagic.ACMEIssuer)
	if !iss.DisableHTTPChallenge || iss.DisableTLSALPNChallenge || iss.ListenHost != "127.0.0.1" || iss.AltTLSALPNPort != 8443 {
		t.Errorf("tls-alpn-01: disabled http %v, tls-alpn %v, at %s:%d; want tls-alpn-01 only, at the TLS listener",
			iss.DisableHTTPChallenge, iss.DisableTLSALPNChallenge, iss.ListenHost, iss.AltTLSALPNPort)
	}
}

// staticBesideACME returns the acme site of a listener that obtains
// a.example, nothing obtained yet, and a store of static certificates for
// static.example beside it, and that certificate.
func staticBesideACME(t *testing.T) (*acmeSite, *tlscert.Store, *x509.Certificate) {
	t.Helper()
	dir := t.TempDir()
	ca := certtest.NewCA(t)
	static := ca.Server(t, "static.example")
	cf, kf := static.Write(t, dir, "static")
	store, err := tlscert.New([]tlscert.Pair{{CertFile: cf, KeyFile: kf}})
	if err != nil {
		t.Fatal(err)
	}
	cfg, _ := loadFile(t, `listeners:
  - address: 127.0.0.1:0
    tls: {acme: {domains: [a.example], storage: `+filepath.Join(dir, "store")+`}}
registry:
  static: [{service: s, address: "127.0.0.1:9"}]
routes:
  - {path: /p, service: s}
`)
	site := newACMESite(cfg.Listeners[0].TLS.ACME)
	site.addr = &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8443}
	cache := certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) { return site.magic, nil },
		Logger:           zap.NewNop(),
	})
	t.Cleanup(cache.Stop)
	site.magic = (&gateway{}).certmagicConfig(cache, site, nil)
	return site, store, static.Cert
}

// A handshake for a name the listener obtains goes to certmagic, one for
// another name to the static certificates; without static certificates,
// every handshake goes to certmagic.
func TestACMESitePicksByName(t *testing.T) {
	site, store, leaf := staticBesideACME(t)
	// Nothing obtained yet: certmagic has no certificate, the static store has one.
	for _, tt := range []struct {
		name, alpn string
		static     bool
		want       bool // a certificate, from the static store
	}{
		{"static.example", "", true, true},
		{"", "", true, true},
		{"A.example.", "", true, false},
		{"static.example", "acme-tls/1", true, false},
		{"static.example", "", false, false},
	} {
		var st *tlscert.Store
		if tt.static {
			st = store
		}
		client, server := net.Pipe()
		defer client.Close()
		defer server.Close()
		hello := &tls.ClientHelloInfo{ServerName: tt.name, Conn: server}
		if tt.alpn != "" {
			hello.SupportedProtos = []string{tt.alpn}
		}
		c, err := site.getCertificate(st)(hello)
		if got := err == nil && c != nil && c.Leaf != nil && c.Leaf.Equal(leaf); got != tt.want {
			t.Errorf("SNI %q ALPN %q, static %v: the static certificate %v, want %v (err %v)", tt.name, tt.alpn, tt.static, got, tt.want, err)
		}
	}
}

// A storage directory the gateway cannot make stops it at start, with the
// field named, rather than failing when the first certificate is saved.
func TestACMEStorageThatCannotBeMadeStopsTheStart(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "file"), "not a directory\n")
	cfg, path := loadFile(t, `listeners:
  - address: 127.0.0.1:0
    tls: {acme: {domains: [a.example], storage: `+filepath.Join(dir, "file", "acme")+`}}
admin: {address: "127.0.0.1:0"}
registry:
  static: [{service: s, address: "127.0.0.1:9"}]
routes:
  - {path: /p, service: s}
`)
	logger, _ := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), waitLimit) // serving on would be the failure
	defer cancel()
	err = g.serve(ctx, make(chan os.Signal), func() (*config.Config, error) { return config.Load(path) })
	if err == nil || !strings.Contains(err.Error(), "tls.acme.storage") {
		t.Fatalf("serve = %v, want the storage error", err)
	}
}
