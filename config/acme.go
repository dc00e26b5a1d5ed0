package config

import (
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluicehq/sluice/internal/tlscert"
)

// ACME asks a TLS listener to obtain and renew its certificates itself,
// from an ACME certificate authority (RFC 8555) such as Let's Encrypt.
// The gateway keeps them on disk, renews them before they expire and
// serves a renewed certificate without a restart.
type ACME struct {
	// Directory is the URL of the CA's ACME directory; left out,
	// DefaultACMEDirectory (Let's Encrypt). It must be https.
	Directory string `yaml:"directory"`
	// Email is the contact address of the ACME account, where the CA
	// writes about expiring certificates and changes of terms. Optional.
	Email string `yaml:"email"`
	// Domains are the host names to obtain certificates for, one
	// certificate each. Wildcards are refused: they need the dns-01
	// challenge, which the gateway does not solve.
	Domains []string `yaml:"domains"`
	// Storage is the directory where accounts, keys and certificates are
	// kept, so that a restart reuses them; left out, DefaultACMEStorage.
	// A relative name is taken from the configuration file's directory.
	Storage string `yaml:"storage"`
	// CARoots names a PEM file of authorities trusted, beside the
	// system's, for the connection to the ACME server: for a private CA
	// or a test server such as Pebble.
	CARoots string `yaml:"ca_roots"`
	// Challenge is how the CA checks that the gateway answers for a name:
	// "tls-alpn-01" (the default: on the TLS listener itself, which the
	// CA reaches on port 443) or "http-01" (on the cleartext listeners,
	// which the CA reaches on port 80).
	Challenge string `yaml:"challenge"`
	// RenewalWindowRatio is the part of a certificate's lifetime, at its
	// end, in which it is renewed, between 0 and 1 exclusive; left out,
	// DefaultRenewalWindowRatio. A CA that suggests a renewal window
	// (ACME Renewal Information, RFC 9773) is followed instead.
	RenewalWindowRatio float64 `yaml:"renewal_window_ratio"`
	// Profile names a certificate profile the CA offers (Let's Encrypt's
	// "classic", "tlsserver", "shortlived"); left out, the CA's default.
	Profile string `yaml:"profile"`

	roots *x509.CertPool
}

// Defaults of ACME.
const (
	// DefaultACMEDirectory is Let's Encrypt's production directory.
	DefaultACMEDirectory = "https://acme-v02.api.letsencrypt.org/directory"
	// DefaultRenewalWindowRatio renews a certificate when a third of its
	// lifetime is left: 30 days before the end of a 90-day certificate.
	DefaultRenewalWindowRatio = 1.0 / 3
)

// Values of ACME.Challenge.
const (
	ChallengeTLSALPN = "tls-alpn-01"
	ChallengeHTTP    = "http-01"
)

// DefaultACMEStorage returns the directory ACME.Storage defaults to:
// sluice/acme under $XDG_DATA_HOME, or else under ~/.local/share.
func DefaultACMEStorage() string {
	base := os.Getenv("XDG_DATA_HOME")
	if base == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			home = "."
		}
		base = filepath.Join(home, ".local", "share")
	}
	return filepath.Join(base, "sluice", "acme")
}

// Roots returns the authorities of CARoots, or nil to trust the system's
// only.
func (a *ACME) Roots() *x509.CertPool { return a.roots }

// checkACME checks the acme block of a TLS listener at path (its tls path),
// fills in its defaults and loads CARoots.
func (c *Config) checkACME(path string, a *ACME) error {
	if a.Directory == "" {
		a.Directory = DefaultACMEDirectory
	}
	if u, err := url.Parse(a.Directory); err != nil || u.Scheme != "https" || u.Host == "" {
		return c.errorAt(path+".directory", "%q is not an https URL: ACME directories are served over https", a.Directory)
	}
	if a.Email != "" && (!strings.Contains(a.Email, "@") || strings.ContainsAny(a.Email, " \t\r\n")) {
		return c.errorAt(path+".email", "%q is not an email address", a.Email)
	}
	if len(a.Domains) == 0 {
		return c.errorAt(path, "acme needs domains: the host names to obtain certificates for")
	}
	seen := make(map[string]bool, len(a.Domains))
	for i, d := range a.Domains {
		p := fmt.Sprintf("%s.domains[%d]", path, i)
		d = strings.ToLower(strings.TrimSuffix(d, "."))
		if err := checkDomain(d); err != nil {
			return c.errorAt(p, "%q: %v", a.Domains[i], err)
		}
		if seen[d] {
			return c.errorAt(p, "%s is listed twice", d)
		}
		seen[d] = true
		a.Domains[i] = d
	}
	switch a.Challenge {
	case "":
		a.Challenge = ChallengeTLSALPN
	case ChallengeTLSALPN, ChallengeHTTP:
	default:
		return c.errorAt(path+".challenge", "unknown challenge %q: use %q or %q (dns-01 is not supported)", a.Challenge, ChallengeTLSALPN, ChallengeHTTP)
	}
	if _, written := c.pos[path+".renewal_window_ratio"]; !written {
		a.RenewalWindowRatio = DefaultRenewalWindowRatio
	}
	if a.RenewalWindowRatio <= 0 || a.RenewalWindowRatio >= 1 {
		return c.errorAt(path+".renewal_window_ratio", "must be between 0 and 1 exclusive: the part of a certificate's lifetime, at its end, in which it is renewed")
	}
	if a.Storage == "" {
		a.Storage = DefaultACMEStorage()
	} else {
		a.Storage = c.resolve(a.Storage)
	}
	if a.CARoots != "" {
		a.CARoots = c.resolve(a.CARoots)
		data, err := tlscert.ReadFile(a.CARoots, tlscert.MaxFileBytes)
		if err != nil {
			return c.errorAt(path+".ca_roots", "%v", err)
		}
		a.roots = x509.NewCertPool()
		if !a.roots.AppendCertsFromPEM(data) {
			return c.errorAt(path+".ca_roots", "%s holds no PEM certificate", a.CARoots)
		}
	}
	return nil
}

// checkDomain accepts a host name an ACME CA issues for with the http-01
// and tls-alpn-01 challenges: no wildcard, no IP address, no port.
func checkDomain(d string) error {
	switch {
	case d == "":
		return fmt.Errorf("empty name")
	case strings.Contains(d, "*"):
		return fmt.Errorf("a wildcard needs the dns-01 challenge, which the gateway does not solve: list each name")
	case net.ParseIP(d) != nil:
		return fmt.Errorf("an IP address: give a host name")
	case len(d) > 253:
		return fmt.Errorf("longer than 253 characters")
	}
	for _, label := range strings.Split(d, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return fmt.Errorf("not a host name")
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return fmt.Errorf("not a host name (%q)", r)
			}
		}
	}
	return nil
}

// checkACMEListeners checks what spans listeners: a name is managed by
// one listener only, an http-01 challenge has a cleartext listener to be
// answered on, and no static certificate of the listener covers a name it
// obtains (SNI could not tell which to serve).
func (c *Config) checkACMEListeners() error {
	owner := make(map[string]string)
	cleartext := false
	for _, l := range c.Listeners {
		if l.TLS == nil {
			cleartext = true
		}
	}
	for i, l := range c.Listeners {
		if l.TLS == nil || l.TLS.ACME == nil {
			continue
		}
		path := fmt.Sprintf("listeners[%d].tls.acme", i)
		a := l.TLS.ACME
		if a.Challenge == ChallengeHTTP && !cleartext {
			return c.errorAt(path+".challenge", "http-01 is answered on a cleartext listener (port 80 for the CA), and this configuration has none: add one, or use %q", ChallengeTLSALPN)
		}
		for j, d := range a.Domains {
			p := fmt.Sprintf("%s.domains[%d]", path, j)
			if prev, ok := owner[d]; ok {
				return c.errorAt(p, "%s is obtained by %s already: list it on one listener", d, prev)
			}
			owner[d] = path
			for k, pair := range l.TLS.Pairs() {
				if leaf := c.leaf(pair.CertFile, pair.KeyFile); leaf != nil && leaf.VerifyHostname(d) == nil {
					return c.errorAt(p, "%s is covered by the listener's static certificate %s (#%d): SNI could not tell which to serve; remove one", d, pair.CertFile, k+1)
				}
			}
		}
	}
	return nil
}

// leaf returns the parsed certificate of a pair checkPair has loaded, or
// nil.
func (c *Config) leaf(certFile, keyFile string) *x509.Certificate {
	cert, err := tlscert.LoadPair(tlscert.Pair{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		return nil
	}
	return cert.Leaf
}
