package config

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"fmt"

	"github.com/sluicehq/sluice/internal/tlscert"
)

// BackendTLS is how the gateway reaches the nodes of a service over TLS
// (services.<name>.tls): https, verifying each node's certificate, and
// answering with a client certificate when the node asks for one (mutual
// TLS). Without it, the service's nodes are reached over plain HTTP.
type BackendTLS struct {
	// CAFile names a PEM file of the authorities that sign the nodes'
	// certificates; empty, the system's. Read at each load and reload of
	// the configuration. A relative name is taken from the configuration
	// file's directory.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile name the PEM certificate chain and private key
	// the gateway answers with when a node asks for a client certificate.
	// Read again when they change on disk, as a listener's are.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name a node's certificate must hold, also sent to
	// it (SNI). Empty: the service's name, as the nodes of a service share
	// its identity whatever their addresses.
	ServerName string `yaml:"server_name"`
	// MinVersion is the oldest TLS version spoken to the nodes: "1.2" (the
	// default) or "1.3".
	MinVersion string `yaml:"min_version"`

	rootCAs *x509.CertPool
	caSum   [sha256.Size]byte // of CAFile's contents, as read
}

// Pair returns the client certificate's files, and false when there is
// none.
func (t *BackendTLS) Pair() (tlscert.Pair, bool) {
	return tlscert.Pair{CertFile: t.CertFile, KeyFile: t.KeyFile}, t.CertFile != ""
}

// Name returns the name service's nodes' certificates must hold:
// ServerName, else service.
func (t *BackendTLS) Name(service string) string {
	if t.ServerName != "" {
		return t.ServerName
	}
	return service
}

// ClientConfig returns the tls.Config of the handshakes with the nodes of
// service, but for its client certificate, which the caller gives
// (GetClientCertificate, nil for none): the authorities of CAFile, the name
// to verify and the minimum version.
func (t *BackendTLS) ClientConfig(service string) *tls.Config {
	cfg := &tls.Config{RootCAs: t.rootCAs, ServerName: t.Name(service), MinVersion: tls.VersionTLS12}
	if t.MinVersion == "1.3" {
		cfg.MinVersion = tls.VersionTLS13
	}
	return cfg
}

// Key returns what tells two settings apart for service: equal keys make
// equal handshakes (for the same client certificate files), so a reload
// that keeps the key keeps the connections made before it.
func (t *BackendTLS) Key(service string) string {
	return fmt.Sprintf("%q %q %q %q %x", t.Name(service), t.MinVersion, t.CertFile, t.KeyFile, t.caSum)
}

// checkBackendTLS checks the tls of a service at path, and reads its files.
func (c *Config) checkBackendTLS(path string, t *BackendTLS) error {
	if (t.CertFile == "") != (t.KeyFile == "") {
		return c.errorAt(path, "give both cert_file and key_file, or neither")
	}
	t.CertFile, t.KeyFile = c.resolve(t.CertFile), c.resolve(t.KeyFile)
	if err := c.checkPair(path, t.CertFile, t.KeyFile); err != nil {
		return err
	}
	switch t.MinVersion {
	case "", "1.2", "1.3":
	default:
		return c.errorAt(path+".min_version", "unknown TLS version %q: use \"1.2\" or \"1.3\"", t.MinVersion)
	}
	t.rootCAs, t.caSum = nil, [sha256.Size]byte{}
	if t.CAFile != "" {
		t.CAFile = c.resolve(t.CAFile)
		data, err := tlscert.ReadFile(t.CAFile, tlscert.MaxFileBytes)
		if err != nil {
			return c.errorAt(path+".ca_file", "%v", err)
		}
		t.rootCAs = x509.NewCertPool()
		if !t.rootCAs.AppendCertsFromPEM(data) {
			return c.errorAt(path+".ca_file", "%s holds no PEM certificate", t.CAFile)
		}
		t.caSum = sha256.Sum256(data)
	}
	return nil
}
