package h1

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/tlscert/certtest"
)

// tlsNode serves handle over TLS with cfg, as rawServer does in plain;
// it returns its https URL, the handshakes it completed and the requests
// it read (handle's own reads, counted by countingReader).
func tlsNode(t *testing.T, cfg *tls.Config, handle func(net.Conn, *bufio.Reader)) (string, *atomic.Int32) {
	t.Helper()
	var handshakes atomic.Int32
	url, _ := rawServer(t, func(nc net.Conn, _ *bufio.Reader) {
		tc := tls.Server(nc, cfg)
		if err := tc.Handshake(); err != nil {
			return
		}
		handshakes.Add(1)
		handle(tc, bufio.NewReader(tc))
	})
	return strings.Replace(url, "http://", "https://", 1), &handshakes
}

// mtls is a node's certificate for "orders" by one authority, and a
// client's by another, which the node requires.
type mtls struct {
	nodeCA, clientCA *certtest.CA
	node             *tls.Config // the node's side
	client           *tls.Config // the caller's side: WithTLS's
}

func newMTLS(t *testing.T) *mtls {
	m := &mtls{nodeCA: certtest.NewCA(t), clientCA: certtest.NewCA(t)}
	m.node = &tls.Config{Certificates: []tls.Certificate{m.nodeCA.Server(t, "orders").TLS},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: m.clientCA.Pool}
	m.client = &tls.Config{RootCAs: m.nodeCA.Pool, ServerName: "orders",
		Certificates: []tls.Certificate{m.clientCA.Client(t, "gateway").TLS}}
	return m
}

// tlsGet sends a GET to url under WithTLS(cfg), within 5 s.
func tlsGet(t *testing.T, tr *Transport, url string, cfg *tls.Config) (*http.Response, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(WithTLS(context.Background(), cfg), 5*time.Second)
	t.Cleanup(cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	return tr.RoundTrip(req)
}

// TestTLSVerifiesTheNodeAndAnswersWithTheClientCertificate: a node whose
// certificate names the service, not its address, and that requires a
// client certificate, answers requests sent under WithTLS, over one
// connection: the handshake is made once.
func TestTLSVerifiesTheNodeAndAnswersWithTheClientCertificate(t *testing.T) {
	m := newMTLS(t)
	var peer atomic.Value
	url, handshakes := tlsNode(t, m.node, func(nc net.Conn, br *bufio.Reader) {
		if cs := nc.(*tls.Conn).ConnectionState(); len(cs.PeerCertificates) > 0 {
			peer.Store(cs.PeerCertificates[0].Subject.CommonName)
		}
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	tr := fallbackTransport(t)
	for i := range 3 {
		resp, err := tlsGet(t, tr, url, m.client)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "ok" || err != nil || resp.StatusCode != 200 {
			t.Fatalf("request %d: %d %q %v", i, resp.StatusCode, b, err)
		}
	}
	if n := handshakes.Load(); n != 1 {
		t.Errorf("%d handshakes for 3 requests, want 1: the connection is reused", n)
	}
	if got := peer.Load(); got != "gateway" {
		t.Errorf("the node saw client certificate %v, want gateway's", got)
	}
	// Another config is another pool: no connection made for one serves
	// the other.
	other := m.client.Clone()
	resp, err := tlsGet(t, tr, url, other)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := handshakes.Load(); n != 2 {
		t.Errorf("%d handshakes after a request with another config, want 2", n)
	}
	// ForgetTLS closes the idle connections of its config.
	tr.ForgetTLS(m.client)
	resp, err = tlsGet(t, tr, url, m.client)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := handshakes.Load(); n != 3 {
		t.Errorf("%d handshakes after ForgetTLS, want 3", n)
	}
}

// TestTLSHandshakeFailureSendsNothing: a node whose certificate does not
// verify (another authority, another name), one that wants a client
// certificate it is not given, and one that does not speak TLS fail the
// round trip with an error that wraps ErrNothingWritten, and the node
// reads no request.
func TestTLSHandshakeFailureSendsNothing(t *testing.T) {
	m := newMTLS(t)
	noCert := m.client.Clone()
	noCert.Certificates = nil
	strangerCert := m.client.Clone()
	strangerCert.Certificates = []tls.Certificate{certtest.NewCA(t).Client(t, "gateway").TLS}
	otherName := m.client.Clone()
	otherName.ServerName = "payments"
	otherCA := m.client.Clone()
	otherCA.RootCAs = x509.NewCertPool()
	otherCA.RootCAs.AddCert(certtest.NewCA(t).Cert)
	for _, tc := range []struct {
		name   string
		cfg    *tls.Config
		plain  bool
		verify bool // a *tls.CertificateVerificationError
	}{
		{"another authority", otherCA, false, true},
		{"another name", otherName, false, true},
		{"no client certificate", noCert, false, false},
		{"a client certificate of another authority", strangerCert, false, false},
		{"a plain node", m.client, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var requests atomic.Int32
			handle := func(nc net.Conn, br *bufio.Reader) {
				if _, err := http.ReadRequest(br); err == nil {
					requests.Add(1)
					io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			}
			var url string
			if tc.plain {
				u, _ := rawServer(t, handle)
				url = strings.Replace(u, "http://", "https://", 1)
			} else {
				url, _ = tlsNode(t, m.node, handle)
			}
			tr := fallbackTransport(t)
			resp, err := tlsGet(t, tr, url, tc.cfg)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("answer %d, want a failed handshake", resp.StatusCode)
			}
			if !errors.Is(err, ErrNothingWritten) {
				t.Errorf("%v does not wrap ErrNothingWritten", err)
			}
			var he *HandshakeError
			if !errors.As(err, &he) {
				t.Errorf("%v is no *HandshakeError", err)
			}
			var ve *tls.CertificateVerificationError
			if errors.As(err, &ve) != tc.verify {
				t.Errorf("%v: a certificate verification error: %v, want %v", err, !tc.verify, tc.verify)
			}
			if n := requests.Load(); n != 0 {
				t.Errorf("the node read %d requests", n)
			}
		})
	}
}

// TestTLSKeepsConnectionFields: an answer over TLS reaches the caller with
// its Connection fields, as a plain one does, for the router to leave out
// the fields they name.
func TestTLSKeepsConnectionFields(t *testing.T) {
	m := newMTLS(t)
	for _, tc := range hopCases {
		url, _ := tlsNode(t, m.node, answering(tc.answer))
		tr := fallbackTransport(t)
		ctx, cancel := context.WithTimeout(WithTLS(context.Background(), m.client), 5*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		if resp := checkHop(t, tr, req, tc.name, tc.want, tc.close); resp != nil {
			resp.Body.Close()
		}
		cancel()
	}
}

// TestTLSUpgradeLeavesThePool: a 101 over TLS hands its connection to the
// caller, out of the host's pool: with one connection allowed per host,
// another request is served while the tunnel is open.
func TestTLSUpgradeLeavesThePool(t *testing.T) {
	m := newMTLS(t)
	url, _ := tlsNode(t, m.node, func(nc net.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if req.Header.Get("Upgrade") == "" {
			io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			return
		}
		io.WriteString(nc, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: x\r\n\r\n")
		b := make([]byte, 2)
		if _, err := io.ReadFull(br, b); err == nil {
			io.WriteString(nc, "got "+string(b))
		}
	})
	tr := &Transport{MaxConnsPerHost: 1}
	t.Cleanup(tr.CloseIdleConnections)
	ctx, cancel := context.WithTimeout(WithTLS(context.Background(), m.client), 5*time.Second)
	defer cancel()
	up, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	up.Header.Set("Connection", "Upgrade")
	up.Header.Set("Upgrade", "x")
	resp, err := tr.RoundTrip(up)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rw, ok := resp.Body.(io.ReadWriter)
	if resp.StatusCode != http.StatusSwitchingProtocols || !ok {
		t.Fatalf("answer %d with a body %T", resp.StatusCode, resp.Body)
	}
	short, scancel := context.WithTimeout(WithTLS(context.Background(), m.client), 2*time.Second)
	defer scancel()
	get, _ := http.NewRequestWithContext(short, http.MethodGet, url, nil)
	r2, err := tr.RoundTrip(get)
	if err != nil {
		t.Fatalf("a request while the tunnel is open: %v", err)
	}
	r2.Body.Close()
	io.WriteString(rw, "hi")
	b := make([]byte, 6)
	if _, err := io.ReadFull(rw, b); string(b) != "got hi" || err != nil {
		t.Fatalf("tunnel read %q, %v", b, err)
	}
}
