package config

import (
	"crypto/x509"
	"errors"
	"time"

	"github.com/sluicehq/sluice/internal/tlscert"
	"github.com/sluicehq/sluice/middleware"
)

// JWKS is where a JWT provider fetches its keys: a JWK Set URL, instead of
// keys listed in the file. docs/auth.md says how it is cached and refreshed.
type JWKS struct {
	// URL of the JWK Set: https, or http to a loopback address.
	URL string `yaml:"url"`
	// RefreshInterval is how old the keys may grow before a request
	// refreshes them. Zero means 5m.
	RefreshInterval time.Duration `yaml:"refresh_interval"`
	// MinRefreshInterval is the least time between two fetches, whatever
	// asks (a token with an unknown kid, a failed fetch). Zero means 30s.
	MinRefreshInterval time.Duration `yaml:"min_refresh_interval"`
	// Timeout bounds one fetch. Zero means 5s.
	Timeout time.Duration `yaml:"timeout"`
	// CAFile names a PEM file of the authorities that sign the JWKS
	// server's certificate; none means the system's.
	CAFile string `yaml:"ca_file"`
}

// buildJWKS returns the key source of the jwks block of provider p, whose
// path is provider.
func (c *Config) buildJWKS(p JWTProvider, provider string) (*middleware.JWKS, error) {
	j, path := p.JWKS, provider+".jwks"
	if j.URL == "" {
		return nil, c.errorAt(path, "url is required")
	}
	s := middleware.JWKSSettings{URL: j.URL, Algorithms: p.Algorithms, RefreshInterval: j.RefreshInterval,
		MinRefreshInterval: j.MinRefreshInterval, Timeout: j.Timeout}
	if j.CAFile != "" {
		pem, err := tlscert.ReadFile(c.resolve(j.CAFile), tlscert.MaxFileBytes)
		if err != nil {
			return nil, c.errorAt(path+".ca_file", "%v", err)
		}
		s.RootCAs = x509.NewCertPool()
		if !s.RootCAs.AppendCertsFromPEM(pem) {
			return nil, c.errorAt(path+".ca_file", "%s: no PEM certificate found", j.CAFile)
		}
	}
	k, err := middleware.NewJWKS(s)
	if err != nil {
		var se *middleware.SettingsError
		if errors.As(err, &se) {
			if se.Field == "algorithms" {
				return nil, c.errorAt(provider+".algorithms", "%v", se.Err)
			}
			return nil, c.errorAt(path+"."+se.Field, "%v", se.Err)
		}
		return nil, c.errorAt(path, "%v", err)
	}
	return k, nil
}

// JWKS returns the key sources of the auth.jwt providers that fetch their
// keys from a JWKS URL, by provider name, built when the configuration
// loaded. They hold no keys until fetched (middleware.JWKS).
func (c *Config) JWKS() map[string]*middleware.JWKS { return c.jwks }
