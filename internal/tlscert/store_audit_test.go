package tlscert_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/tlscert"
	"github.com/sluicehq/sluice/internal/tlscert/certtest"
)

// expiredPair returns the PEM of a self-signed certificate for name that
// expired a year ago, and of its key.
func expiredPair(t *testing.T, name string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-2 * 365 * 24 * time.Hour), NotAfter: time.Now().Add(-365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
}

// servesLeaf fails t unless s serves want for its name.
func servesLeaf(t *testing.T, s *tlscert.Store, want *x509.Certificate) {
	t.Helper()
	got, err := s.GetCertificate(&tls.ClientHelloInfo{ServerName: "a.example"})
	if err != nil || got.Leaf == nil || !got.Leaf.Equal(want) {
		t.Fatalf("serving %v (%v), want the good certificate", got, err)
	}
}

// TestReloadRefusesAnExpiredCertificate: files replaced by a certificate
// that has expired are refused, reported, and the good pair keeps serving:
// served, it would fail every client's handshake, where the pair held
// still verifies.
func TestReloadRefusesAnExpiredCertificate(t *testing.T) {
	ca, dir := certtest.NewCA(t), t.TempDir()
	leaf := ca.Server(t, "a.example")
	cf, kf := leaf.Write(t, dir, "a")
	s, err := tlscert.New([]tlscert.Pair{{cf, kf}})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM := expiredPair(t, "a.example")
	writeFile(t, cf, certPEM)
	writeFile(t, kf, keyPEM)
	if tried, err := s.ReloadIfChanged(); !tried || err == nil {
		t.Fatalf("ReloadIfChanged of an expired certificate: tried %v, error %v; want tried and refused", tried, err)
	}
	servesLeaf(t, s, leaf.Cert)
}

// TestBadReloadsKeepTheGoodPair probes the ways a pair on disk goes wrong
// while it is replaced: each is refused, reported, and the good pair keeps
// serving; the complete new pair then loads.
func TestBadReloadsKeepTheGoodPair(t *testing.T) {
	ca, dir := certtest.NewCA(t), t.TempDir()
	leaf, next := ca.Server(t, "a.example"), ca.Server(t, "a.example")
	cf, kf := leaf.Write(t, dir, "a")
	s, err := tlscert.New([]tlscert.Pair{{cf, kf}})
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name string
		do   func()
	}{
		{"certificate written, key not yet", func() { writeFile(t, cf, next.CertPEM) }},
		{"half a certificate", func() { writeFile(t, cf, next.CertPEM[:len(next.CertPEM)/2]) }},
		{"chain in the wrong order", func() {
			writeFile(t, cf, append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}), next.CertPEM...))
			writeFile(t, kf, next.KeyPEM)
		}},
		{"key file gone", func() { _ = os.Remove(kf) }},
		{"symlink to nothing", func() {
			tmp := filepath.Join(dir, "link")
			if err := os.Symlink(filepath.Join(dir, "missing"), tmp); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, cf); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, st := range steps {
		st.do()
		if tried, err := s.ReloadIfChanged(); !tried || err == nil {
			t.Fatalf("%s: tried %v, error %v; want tried and refused", st.name, tried, err)
		}
		servesLeaf(t, s, leaf.Cert)
	}
	// A symlink swap to the complete new pair loads it.
	newDir := filepath.Join(dir, "v2")
	if err := os.Mkdir(newDir, 0o700); err != nil {
		t.Fatal(err)
	}
	ncf, nkf := next.Write(t, newDir, "a")
	for _, l := range [][2]string{{ncf, cf}, {nkf, kf}} {
		tmp := l[1] + ".link"
		if err := os.Symlink(l[0], tmp); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, l[1]); err != nil {
			t.Fatal(err)
		}
	}
	if tried, err := s.ReloadIfChanged(); !tried || err != nil {
		t.Fatalf("the complete pair: tried %v, error %v", tried, err)
	}
	servesLeaf(t, s, next.Cert)
}
