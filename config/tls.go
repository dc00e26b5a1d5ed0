package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/sluicehq/sluice/internal/tlscert"
)

// TLS configures an HTTPS listener. Certificates are read again when their
// files change on disk and on SIGHUP (package internal/tlscert).
type TLS struct {
	// CertFile and KeyFile name the PEM certificate chain and private key
	// of the listener's default certificate. A relative name is taken from
	// the configuration file's directory.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// Certificates are more certificates, chosen by the name the client
	// asks for (SNI). The first certificate (CertFile, or else the first
	// of the list) is served to a client whose name none covers.
	Certificates []Certificate `yaml:"certificates"`
	// MinVersion is the oldest TLS version served: "1.2" (the default) or
	// "1.3". Cipher suites are Go's defaults.
	MinVersion string `yaml:"min_version"`
	// ClientCAFile names a PEM file of the authorities that sign client
	// certificates (mutual TLS).
	ClientCAFile string `yaml:"client_ca_file"`
	// ClientAuth asks clients for a certificate: "request" (asked, not
	// required, not verified), "require" (required, not verified),
	// "verify_if_given" (not required; one given must be signed by
	// ClientCAFile) or "verify" (required and signed by ClientCAFile, the
	// default when ClientCAFile is set). Empty, without ClientCAFile: no
	// client certificate is asked for.
	ClientAuth string `yaml:"client_auth"`
	// HSTS, when set, adds Strict-Transport-Security to every answer.
	HSTS *HSTS `yaml:"hsts"`
	// ACME, when set, obtains and renews certificates for its domains
	// from an ACME CA, beside the static ones (see ACME).
	ACME *ACME `yaml:"acme"`

	clientCAs *x509.CertPool
}

// Certificate names the files of one certificate of a TLS listener.
type Certificate struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// HSTS configures the Strict-Transport-Security field.
type HSTS struct {
	// MaxAge is how long browsers keep to https for the host; left out,
	// DefaultHSTSMaxAge. Written as 0s, browsers forget the host.
	MaxAge time.Duration `yaml:"max_age"`
	// IncludeSubdomains extends it to every subdomain.
	IncludeSubdomains bool `yaml:"include_subdomains"`
}

// DefaultHSTSMaxAge is HSTS.MaxAge when left out: one year.
const DefaultHSTSMaxAge = 365 * 24 * time.Hour

// Values of TLS.ClientAuth.
const (
	ClientAuthRequest       = "request"
	ClientAuthRequire       = "require"
	ClientAuthVerifyIfGiven = "verify_if_given"
	ClientAuthVerify        = "verify"
)

// Pairs returns the listener's certificates, the default first.
func (t *TLS) Pairs() []tlscert.Pair {
	var pairs []tlscert.Pair
	if t.CertFile != "" || t.KeyFile != "" {
		pairs = append(pairs, tlscert.Pair{CertFile: t.CertFile, KeyFile: t.KeyFile})
	}
	for _, c := range t.Certificates {
		pairs = append(pairs, tlscert.Pair{CertFile: c.CertFile, KeyFile: c.KeyFile})
	}
	return pairs
}

// ServerConfig returns the tls.Config of the listener without its certificates,
// which the caller provides (GetCertificate): the minimum version and the
// client certificate policy.
func (t *TLS) ServerConfig() *tls.Config {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ClientCAs: t.clientCAs}
	if t.MinVersion == "1.3" {
		cfg.MinVersion = tls.VersionTLS13
	}
	switch t.ClientAuth {
	case ClientAuthRequest:
		cfg.ClientAuth = tls.RequestClientCert
	case ClientAuthRequire:
		cfg.ClientAuth = tls.RequireAnyClientCert
	case ClientAuthVerifyIfGiven:
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	case ClientAuthVerify:
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg
}

// checkListener checks the TLS, h2c and redirect fields of the listener at
// path, loads its certificates once so that a bad file is an error at load,
// and resolves relative file names.
func (c *Config) checkListener(path string, l *Listener) error {
	if l.TLS != nil || l.H2C {
		if l.Server == ServerSluice {
			return c.errorAt(path+".server", "a listener with tls or h2c is served by net/http's server, which has HTTP/2: leave server out or write %q", ServerNetHTTP)
		}
		if l.WatchAfter != 0 {
			return c.errorAt(path+".watch_after", "a listener with tls or h2c is served by net/http's server, which watches every request: watch_after applies to server %q only", ServerSluice)
		}
	}
	if l.HTTPSPort != 0 && !l.RedirectHTTPS {
		return c.errorAt(path+".https_port", "https_port is where redirect_https sends clients: set redirect_https: true")
	}
	if l.HTTPSPort < 0 || l.HTTPSPort > 65535 {
		return c.errorAt(path+".https_port", "must be a port, 1 to 65535")
	}
	if l.TLS == nil {
		return nil
	}
	if l.H2C {
		return c.errorAt(path+".h2c", "a TLS listener serves HTTP/2 by ALPN already: h2c is for cleartext listeners")
	}
	if l.RedirectHTTPS {
		return c.errorAt(path+".redirect_https", "redirect_https is for cleartext listeners: this one has tls")
	}
	if l.TLS.ACME != nil && path == "admin" {
		return c.errorAt(path+".tls.acme", "acme is for route listeners: give the admin listener cert_file and key_file")
	}
	return c.checkTLS(path+".tls", l.TLS)
}

func (c *Config) checkTLS(path string, t *TLS) error {
	if (t.CertFile == "") != (t.KeyFile == "") {
		return c.errorAt(path, "give both cert_file and key_file")
	}
	if t.CertFile == "" && len(t.Certificates) == 0 && t.ACME == nil {
		return c.errorAt(path, "a TLS listener needs a certificate: give cert_file and key_file, certificates, or acme")
	}
	if t.ACME != nil {
		if err := c.checkACME(path+".acme", t.ACME); err != nil {
			return err
		}
	}
	t.CertFile, t.KeyFile = c.resolve(t.CertFile), c.resolve(t.KeyFile)
	if err := c.checkPair(path, t.CertFile, t.KeyFile); err != nil {
		return err
	}
	for i := range t.Certificates {
		p, cert := fmt.Sprintf("%s.certificates[%d]", path, i), &t.Certificates[i]
		if cert.CertFile == "" || cert.KeyFile == "" {
			return c.errorAt(p, "give both cert_file and key_file")
		}
		cert.CertFile, cert.KeyFile = c.resolve(cert.CertFile), c.resolve(cert.KeyFile)
		if err := c.checkPair(p, cert.CertFile, cert.KeyFile); err != nil {
			return err
		}
	}
	switch t.MinVersion {
	case "", "1.2", "1.3":
	default:
		return c.errorAt(path+".min_version", "unknown TLS version %q: use \"1.2\" or \"1.3\" (older versions are not served)", t.MinVersion)
	}
	if t.ClientCAFile != "" && t.ClientAuth == "" {
		t.ClientAuth = ClientAuthVerify
	}
	switch t.ClientAuth {
	case "":
	case ClientAuthRequest, ClientAuthRequire:
		if t.ClientCAFile != "" {
			return c.errorAt(path+".client_auth", "%q does not verify client certificates against client_ca_file: use %q or %q", t.ClientAuth, ClientAuthVerify, ClientAuthVerifyIfGiven)
		}
	case ClientAuthVerify, ClientAuthVerifyIfGiven:
		if t.ClientCAFile == "" {
			return c.errorAt(path+".client_auth", "%q verifies client certificates: give client_ca_file", t.ClientAuth)
		}
	default:
		return c.errorAt(path+".client_auth", "unknown client_auth %q: use request, require, verify_if_given or verify", t.ClientAuth)
	}
	if t.ClientCAFile != "" {
		t.ClientCAFile = c.resolve(t.ClientCAFile)
		data, err := tlscert.ReadFile(t.ClientCAFile, tlscert.MaxFileBytes)
		if err != nil {
			return c.errorAt(path+".client_ca_file", "%v", err)
		}
		t.clientCAs = x509.NewCertPool()
		if !t.clientCAs.AppendCertsFromPEM(data) {
			return c.errorAt(path+".client_ca_file", "%s holds no PEM certificate", t.ClientCAFile)
		}
	}
	if h := t.HSTS; h != nil {
		if _, written := c.pos[path+".hsts.max_age"]; !written {
			h.MaxAge = DefaultHSTSMaxAge
		}
		if h.MaxAge%time.Second != 0 {
			return c.errorAt(path+".hsts.max_age", "max-age is in whole seconds")
		}
	}
	return nil
}

// checkPair loads a certificate and its key once, so that a missing or
// mismatched file is reported at its field.
func (c *Config) checkPair(path, certFile, keyFile string) error {
	if certFile == "" {
		return nil
	}
	if _, err := os.Stat(certFile); err != nil {
		return c.errorAt(path+".cert_file", "%v", err)
	}
	if _, err := os.Stat(keyFile); err != nil {
		return c.errorAt(path+".key_file", "%v", err)
	}
	if _, err := tlscert.LoadPair(tlscert.Pair{CertFile: certFile, KeyFile: keyFile}); err != nil {
		return c.errorAt(path+".cert_file", "certificate %s with key %s: %v", certFile, keyFile, err)
	}
	return nil
}

// resolve takes a relative file name from the configuration file's
// directory (ParseIn's dir, for a configuration that is no file).
func (c *Config) resolve(name string) string {
	if name == "" || filepath.IsAbs(name) {
		return name
	}
	if c.dir != "" {
		return filepath.Join(c.dir, name)
	}
	if c.file == "" {
		return name
	}
	return filepath.Join(filepath.Dir(c.file), name)
}
