package pebbletest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testbin"
	"github.com/sluicehq/sluice/internal/tlscert/certtest"
)

// startLimit bounds the wait for Pebble to answer, and for it to stop.
const startLimit = 30 * time.Second

// Options configure a Pebble server.
type Options struct {
	// HTTPPort and TLSPort are where Pebble's validation authority dials
	// the http-01 and tls-alpn-01 challenges, on 127.0.0.1. Left zero,
	// Start picks free ones, distinct from each other and from Pebble's
	// own ports, and the Server says which.
	HTTPPort, TLSPort int
	// Profiles are the certificate profiles offered, by name, with the
	// lifetime of their certificates. Left empty: "default", of 90 days.
	// Pebble gives an order that names no profile one picked at random:
	// with several offered, a test names the one it means.
	Profiles map[string]time.Duration
}

// Server is a Pebble process on 127.0.0.1.
type Server struct {
	// Directory is the URL of the ACME directory.
	Directory string
	// CAFile is the PEM file of the authority that signed Pebble's own
	// HTTPS certificate: what an ACME client must trust to talk to it.
	CAFile string
	// HTTPPort and TLSPort are the ports of 127.0.0.1 that Pebble dials
	// to validate http-01 and tls-alpn-01 challenges: the test's
	// listeners belong there.
	HTTPPort, TLSPort int

	mgmt   string
	client *http.Client
	log    *syncBuffer
}

// Start runs Pebble with its configuration, certificate and log in dir,
// waits until its directory answers, and stops it when the test ends.
// Validation is real (PEBBLE_VA_ALWAYS_VALID=0) and immediate
// (PEBBLE_VA_NOSLEEP=1); no nonce is refused at random and no
// authorization is reused, so that every order is validated.
func Start(t testing.TB, dir string, opts Options) *Server {
	t.Helper()
	bin := Binary(t)
	ca := certtest.NewCA(t)
	ca.Server(t, "127.0.0.1", "localhost").Write(t, dir, "pebble")
	caFile := filepath.Join(dir, "pebble-ca.pem")
	ca.WriteCA(t, dir, "pebble-ca.pem")

	profiles := map[string]any{}
	if len(opts.Profiles) == 0 {
		opts.Profiles = map[string]time.Duration{"default": 90 * 24 * time.Hour}
	}
	for name, d := range opts.Profiles {
		profiles[name] = map[string]any{"description": name, "validityPeriod": int64(d / time.Second)}
	}
	// Every port Pebble knows is picked at once, so that no two are the
	// same (see testbin.FreePorts).
	ps := testbin.FreePorts(t, 4)
	listen, mgmt := ps[0], ps[1]
	if opts.HTTPPort == 0 {
		opts.HTTPPort = ps[2]
	}
	if opts.TLSPort == 0 {
		opts.TLSPort = ps[3]
	}
	conf := map[string]any{"pebble": map[string]any{
		"listenAddress":                  fmt.Sprintf("127.0.0.1:%d", listen),
		"managementListenAddress":        fmt.Sprintf("127.0.0.1:%d", mgmt),
		"certificate":                    filepath.Join(dir, "pebble.crt"),
		"privateKey":                     filepath.Join(dir, "pebble.key"),
		"httpPort":                       opts.HTTPPort,
		"tlsPort":                        opts.TLSPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"retryAfter":                     map[string]int{"authz": 1, "order": 1},
		"keyAlgorithm":                   "ecdsa",
		"profiles":                       profiles,
	}}
	data, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	confFile := filepath.Join(dir, "pebble-config.json")
	if err := os.WriteFile(confFile, data, 0o600); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, "-config", confFile, "-dnsserver", serveDNS(t))
	cmd.Env = append(os.Environ(), "PEBBLE_VA_NOSLEEP=1", "PEBBLE_VA_ALWAYS_VALID=0",
		"PEBBLE_WFE_NONCEREJECT=0", "PEBBLE_AUTHZREUSE=0")
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(startLimit):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("pebble's log:\n%s", logs.String())
		}
	})

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}
	t.Cleanup(tr.CloseIdleConnections)
	s := &Server{Directory: fmt.Sprintf("https://127.0.0.1:%d/dir", listen), CAFile: caFile,
		HTTPPort: opts.HTTPPort, TLSPort: opts.TLSPort,
		mgmt: fmt.Sprintf("https://127.0.0.1:%d", mgmt), client: &http.Client{Transport: tr, Timeout: startLimit}, log: logs}
	deadline := time.Now().Add(startLimit)
	for {
		resp, err := s.client.Get(s.Directory)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case <-exited:
			t.Fatalf("pebble exited at start:\n%s", logs.String())
		case <-time.After(50 * time.Millisecond): // polling a process that has no readiness signal
		}
		if time.Now().After(deadline) {
			t.Fatalf("pebble did not answer at %s within %v (last: %v):\n%s", s.Directory, startLimit, err, logs.String())
		}
	}
}

// Root returns Pebble's issuing root certificate, from its management
// interface (/roots/0), as PEM and as a pool to verify served chains with.
func (s *Server) Root(t testing.TB) ([]byte, *x509.CertPool) {
	t.Helper()
	resp, err := s.client.Get(s.mgmt + "/roots/0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	pemData, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("pebble /roots/0: %d %v", resp.StatusCode, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		t.Fatalf("pebble /roots/0 is not PEM: %q", pemData)
	}
	return pemData, pool
}

// Issued returns how many certificates Pebble has issued so far, from its
// log.
func (s *Server) Issued() int {
	return strings.Count(s.log.String(), "Issued certificate serial ")
}

// syncBuffer is a bytes buffer safe for a process's output and a reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	return len(p), nil
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// Log returns what Pebble has written so far.
func (s *Server) Log() string { return s.log.String() }
