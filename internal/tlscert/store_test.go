package tlscert_test

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/tlscert"
	"github.com/sluicehq/sluice/internal/tlscert/certtest"
)

// waitLimit bounds every wait on a condition.
const waitLimit = 10 * time.Second

// serve runs an HTTP/1.1 server over TLS with the store's certificates and
// returns its address.
func serve(t *testing.T, s *tlscert.Store) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }),
		TLSConfig: &tls.Config{GetCertificate: s.GetCertificate}}
	go func() { _ = hs.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String()
}

// handshake connects to addr naming serverName and returns the
// certificate the server presented.
func handshake(t *testing.T, addr, serverName string, roots *x509.CertPool) *x509.Certificate {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: serverName, RootCAs: roots})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

func TestSNIPicksTheCertificateOfTheName(t *testing.T) {
	ca, dir := certtest.NewCA(t), t.TempDir()
	a, b := ca.Server(t, "a.example"), ca.Server(t, "b.example", "*.b.example")
	ac, ak := a.Write(t, dir, "a")
	bc, bk := b.Write(t, dir, "b")
	s, err := tlscert.New([]tlscert.Pair{{ac, ak}, {bc, bk}})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s)
	for name, want := range map[string]*x509.Certificate{"a.example": a.Cert, "b.example": b.Cert, "x.b.example": b.Cert} {
		if got := handshake(t, addr, name, ca.Pool); !got.Equal(want) {
			t.Errorf("SNI %s got the certificate of %v, want %v", name, got.DNSNames, want.DNSNames)
		}
	}
	// No name, or a name no certificate covers: the first.
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, ServerName: "other.example"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := c.ConnectionState().PeerCertificates[0]; !got.Equal(a.Cert) {
		t.Errorf("an unknown name got %v, want the first certificate", got.DNSNames)
	}
}

func TestNewRefusesAKeyOfAnotherCertificate(t *testing.T) {
	ca, dir := certtest.NewCA(t), t.TempDir()
	ac, _ := ca.Server(t, "a.example").Write(t, dir, "a")
	_, bk := ca.Server(t, "b.example").Write(t, dir, "b")
	if _, err := tlscert.New([]tlscert.Pair{{ac, bk}}); err == nil || !strings.Contains(err.Error(), ac) {
		t.Fatalf("New with a mismatched key = %v, want an error naming the file", err)
	}
}

// A renewed certificate written over the files is served to new
// handshakes, without a restart; a connection already open keeps working.
// A bad set of files is refused and the last good certificate keeps
// serving.
func TestFilesChangedOnDiskAreServedWithoutDroppingConnections(t *testing.T) {
	ca, dir := certtest.NewCA(t), t.TempDir()
	old := ca.Server(t, "127.0.0.1")
	cf, kf := old.Write(t, dir, "site")
	s, err := tlscert.New([]tlscert.Pair{{cf, kf}})
	if err != nil {
		t.Fatal(err)
	}
	addr := serve(t, s)

	reports := make(chan error, 10)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		s.Watch(5*time.Millisecond, stop, func(err error) { reports <- err })
	})
	t.Cleanup(func() { close(stop); wg.Wait() })

	// A keep-alive connection, opened on the old certificate.
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, ServerName: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	br := bufio.NewReader(conn)
	roundTrip := func() {
		t.Helper()
		if _, err := io.WriteString(conn, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("the open connection: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != "ok" {
			t.Fatalf("the open connection: %d %q", resp.StatusCode, body)
		}
	}
	roundTrip()

	// A key that does not match: refused, the old certificate serves.
	other := ca.Server(t, "127.0.0.1")
	writeFile(t, kf, other.KeyPEM)
	select {
	case err := <-reports:
		if err == nil {
			t.Fatal("a key of another certificate was accepted")
		}
	case <-time.After(waitLimit):
		t.Fatal("the changed key file was not noticed")
	}
	if got := handshake(t, addr, "127.0.0.1", ca.Pool); !got.Equal(old.Cert) {
		t.Fatal("after a bad reload the old certificate is no longer served")
	}

	// The matching certificate: the pair loads and new handshakes get it.
	writeFile(t, cf, other.CertPEM)
	select {
	case err := <-reports:
		if err != nil {
			t.Fatalf("the renewed certificate was refused: %v", err)
		}
	case <-time.After(waitLimit):
		t.Fatal("the renewed certificate was not noticed")
	}
	if got := handshake(t, addr, "127.0.0.1", ca.Pool); !got.Equal(other.Cert) {
		t.Fatal("a new handshake did not get the renewed certificate")
	}
	roundTrip()
	if got := conn.ConnectionState().PeerCertificates[0]; !got.Equal(old.Cert) {
		t.Fatal("the open connection changed certificate")
	}
}

func TestReloadKeepsTheOldCertificatesOnError(t *testing.T) {
	ca, dir := certtest.NewCA(t), t.TempDir()
	leaf := ca.Server(t, "a.example")
	cf, kf := leaf.Write(t, dir, "a")
	s, err := tlscert.New([]tlscert.Pair{{cf, kf}})
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, cf, []byte("not a certificate"))
	if err := s.Reload(); err == nil {
		t.Fatal("Reload accepted a file that is not a certificate")
	}
	got, err := s.GetCertificate(&tls.ClientHelloInfo{ServerName: "a.example"})
	if err != nil || got.Leaf == nil || !got.Leaf.Equal(leaf.Cert) {
		t.Fatalf("after a failed Reload: %v, %v; want the old certificate", got, err)
	}
	if tried, _ := s.ReloadIfChanged(); tried {
		t.Error("ReloadIfChanged tried files that had not changed since the failed Reload")
	}
}

// writeFile replaces a file whole, as a renewal tool does.
func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	tmp := path + ".new"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
