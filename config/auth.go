package config

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/tlscert"
	"github.com/sluicehq/sluice/middleware"
)

// DefaultLeeway is the clock skew a JWT provider allows when its leeway is
// left out.
const DefaultLeeway = 30 * time.Second

// Auth declares the ways routes may authenticate requests.
type Auth struct {
	// JWT holds bearer-token verifiers by name; a route names one in its
	// auth field.
	JWT map[string]JWTProvider `yaml:"jwt"`
	// APIKeys holds API key checkers by name; a route names one in its
	// auth field, as it would a JWT provider.
	APIKeys map[string]APIKeyProvider `yaml:"api_keys"`
}

// JWTProvider verifies bearer tokens (JWS compact form) of one issuer.
type JWTProvider struct {
	// Issuer, when set, must equal the token's iss.
	Issuer string `yaml:"issuer"`
	// Audiences, when set, must include one of the token's aud values.
	Audiences []string `yaml:"audiences"`
	// Algorithms accepted; required. The token's alg must be one of them.
	Algorithms []string `yaml:"algorithms"`
	// Keys verify signatures; required unless JWKS is given.
	Keys []JWTKey `yaml:"keys"`
	// JWKS fetches the keys from a JWK Set URL instead of Keys.
	JWKS *JWKS `yaml:"jwks"`
	// Leeway is the clock skew allowed on exp, nbf and iat. Default 30s.
	Leeway time.Duration `yaml:"leeway"`
	// ForwardClaims maps a claim to the request header it is sent to the
	// backend in.
	ForwardClaims map[string]string `yaml:"forward_claims"`
	// ForwardToken sends the client's Authorization header to the backend;
	// by default it is removed.
	ForwardToken bool `yaml:"forward_token"`
	// CacheSize bounds the verified tokens remembered, so that a token sent
	// again skips the signature check (its time claims are still checked).
	// Zero means 10 000; -1 turns the cache off.
	CacheSize int `yaml:"cache_size"`
}

// JWTKey is one key of a provider, from exactly one source: the YAML never
// holds a secret itself.
type JWTKey struct {
	// ID matches a token's kid.
	ID string `yaml:"id"`
	// HMACSecretEnv names the environment variable holding an HMAC secret.
	HMACSecretEnv string `yaml:"hmac_secret_env"`
	// HMACSecretFile names a file holding an HMAC secret (one trailing
	// newline is ignored).
	HMACSecretFile string `yaml:"hmac_secret_file"`
	// PublicKeyFile names a PEM file holding an RSA, ECDSA or Ed25519
	// public key, or a certificate.
	PublicKeyFile string `yaml:"public_key_file"`
}

func (c *Config) applyAuthDefaults() {
	for name, p := range c.Auth.JWT {
		if p.Leeway == 0 {
			p.Leeway = DefaultLeeway
			c.Auth.JWT[name] = p
		}
	}
}

// buildVerifiers loads every provider's keys and builds its verifier.
func (c *Config) buildVerifiers() error {
	c.verifiers = make(map[string]*middleware.JWTVerifier, len(c.Auth.JWT))
	c.jwks = make(map[string]*middleware.JWKS)
	names := make([]string, 0, len(c.Auth.JWT))
	for name := range c.Auth.JWT {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		p, path := c.Auth.JWT[name], "auth.jwt."+name
		if err := checkProviderName(name); err != nil {
			return c.errorAt(path, "%v", err)
		}
		s := middleware.JWTSettings{Issuer: p.Issuer, Audiences: p.Audiences, Algorithms: p.Algorithms,
			Leeway: p.Leeway, ForwardClaims: p.ForwardClaims, ForwardToken: p.ForwardToken, CacheSize: p.CacheSize}
		if p.CacheSize < -1 {
			return c.errorAt(path+".cache_size", "must be -1 (off), 0 (the default, 10000) or more")
		}
		for i, k := range p.Keys {
			key, err := c.loadKey(k, fmt.Sprintf("%s.keys[%d]", path, i))
			if err != nil {
				return err
			}
			s.Keys = append(s.Keys, middleware.JWTKey{ID: k.ID, Key: key})
		}
		if p.JWKS != nil {
			k, err := c.buildJWKS(p, path)
			if err != nil {
				return err
			}
			s.JWKS = k
			c.jwks[name] = k
		}
		v, err := middleware.NewJWTVerifier(s)
		if err != nil {
			var se *middleware.SettingsError
			if errors.As(err, &se) {
				return c.errorAt(path+"."+se.Field, "%v", se.Err)
			}
			return c.errorAt(path, "%v", err)
		}
		c.verifiers[name] = v
	}
	return nil
}

// checkProviderName checks the name of an auth provider.
func checkProviderName(name string) error {
	if name == "" || strings.ContainsAny(name, " .[") {
		return fmt.Errorf("provider name %q: use letters, digits, '-' and '_'", name)
	}
	return nil
}

// loadKey reads one key from its source; errors point at the source field.
func (c *Config) loadKey(k JWTKey, path string) (any, error) {
	sources := 0
	for _, s := range []string{k.HMACSecretEnv, k.HMACSecretFile, k.PublicKeyFile} {
		if s != "" {
			sources++
		}
	}
	if sources != 1 {
		return nil, c.errorAt(path, "give exactly one of hmac_secret_env, hmac_secret_file and public_key_file")
	}
	switch {
	case k.HMACSecretEnv != "":
		v, ok := os.LookupEnv(k.HMACSecretEnv)
		if !ok || v == "" {
			return nil, c.errorAt(path+".hmac_secret_env", "environment variable %s is not set", k.HMACSecretEnv)
		}
		return []byte(v), nil
	case k.HMACSecretFile != "":
		data, err := c.readKeyFile(k.HMACSecretFile)
		if err != nil {
			return nil, c.errorAt(path+".hmac_secret_file", "%v", err)
		}
		return []byte(strings.TrimSuffix(strings.TrimSuffix(string(data), "\n"), "\r")), nil
	}
	data, err := c.readKeyFile(k.PublicKeyFile)
	if err == nil {
		var key any
		if key, err = middleware.ParsePublicKeyPEM(data); err == nil {
			return key, nil
		}
		err = fmt.Errorf("%s: %w", k.PublicKeyFile, err)
	}
	return nil, c.errorAt(path+".public_key_file", "%v", err)
}

// maxKeyFileBytes bounds a JWT key file: a PEM public key or an HMAC
// secret is at most a few kilobytes.
const maxKeyFileBytes = 64 << 10

// readKeyFile reads a key file, at most maxKeyFileBytes, and no special
// file; a relative name is taken from the configuration file's directory.
func (c *Config) readKeyFile(name string) ([]byte, error) {
	return tlscert.ReadFile(c.resolve(name), maxKeyFileBytes)
}

// ClaimHeaders returns the names of every request header some auth.jwt
// provider forwards a claim into, or some auth.api_keys provider its keys'
// names, canonical, sorted and without repeats.
// The gateway removes them from every client request on every route, so
// that only its own verified values reach a backend.
func (c *Config) ClaimHeaders() []string {
	var names []string
	for _, v := range c.verifiers {
		for _, h := range v.ForwardedHeaders() {
			if !slices.Contains(names, h) {
				names = append(names, h)
			}
		}
	}
	for _, a := range c.apiKeys {
		for _, h := range a.ForwardedHeaders() {
			if !slices.Contains(names, h) {
				names = append(names, h)
			}
		}
	}
	sort.Strings(names)
	return names
}

// JWTVerifier returns the verifier of the auth.jwt provider name, built
// when the configuration loaded, or nil.
func (c *Config) JWTVerifier(name string) *middleware.JWTVerifier { return c.verifiers[name] }
