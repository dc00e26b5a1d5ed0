package h1

import (
	"bufio"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
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
			var told []string
			tr.OnHandshakeFailure = func(addr string, _ error) { told = append(told, addr) }
			resp, err := tlsGet(t, tr, url, tc.cfg)
			if err == nil {
				resp.Body.Close()
				t.Fatalf("answer %d, want a failed handshake", resp.StatusCode)
			}
			if host := strings.TrimPrefix(url, "https://"); len(told) != 1 || told[0] != host {
				t.Errorf("OnHandshakeFailure told of %q, want %s once", told, host)
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

// TestATLSDialWaitingForASlotEndsWithItsRequest: with the node's one
// connection busy, a request given up while its dial waits for a slot
// takes its wait with it. net/http dials under a context that outlives
// the request: the wait stayed, one more with each request given up, for
// as long as the node was full, and then dialled a connection for nobody.
func TestATLSDialWaitingForASlotEndsWithItsRequest(t *testing.T) {
	m := newMTLS(t)
	held, release := make(chan struct{}, 2), make(chan struct{})
	var once sync.Once
	free := func() { once.Do(func() { close(release) }) }
	url, handshakes := tlsNode(t, m.node, func(nc net.Conn, br *bufio.Reader) {
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			held <- struct{}{}
			<-release
			io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	t.Cleanup(free) // before the node's handlers are waited for
	tr := &Transport{MaxConnsPerHost: 1}
	t.Cleanup(tr.CloseIdleConnections)
	first := make(chan error, 1)
	long, lcancel := context.WithTimeout(WithTLS(context.Background(), m.client), 30*time.Second) // past waitFor's guard
	defer lcancel()
	hold, _ := http.NewRequestWithContext(long, http.MethodGet, url, nil)
	go func() {
		resp, err := tr.RoundTrip(hold)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		first <- err
	}()
	<-held // the node's one connection is busy

	ctx, cancel := context.WithCancel(WithTLS(context.Background(), m.client))
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	second := make(chan error, 1)
	go func() {
		resp, err := tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		second <- err
	}()
	p := tr.pool(req.URL.Host)
	waiting := func() int {
		p.mu.Lock()
		defer p.mu.Unlock()
		return len(p.waiters)
	}
	waitFor(t, "the second request's dial to wait for a slot", func() bool { return waiting() == 1 })
	cancel()
	if err := <-second; err == nil {
		t.Fatal("a request given up got an answer")
	}
	waitFor(t, "the wait of the request given up to end", func() bool { return waiting() == 0 })
	free()
	if err := <-first; err != nil {
		t.Fatal(err)
	}
	if n := handshakes.Load(); n != 1 {
		t.Errorf("%d handshakes, want 1: a connection was dialled for the request given up", n)
	}
}

// TestAStalledHandshakeEndsWithItsRequestWithoutAHandshakeTimeout: with
// no handshake timeout (TLSHandshakeTimeout < 0), a handshake the node
// stalls is bounded by its request: once the request is given up, the
// connection closes and its slot is free for the next. It went on under
// net/http's dial context, which outlives the request, for as long as the
// node stalled: a descriptor, a goroutine and one of the node's slots
// held for good by each request sent there.
func TestAStalledHandshakeEndsWithItsRequestWithoutAHandshakeTimeout(t *testing.T) {
	tr := &Transport{MaxConnsPerHost: 1, TLSHandshakeTimeout: -1}
	req, closed, err := cutInAStalledHandshake(t, tr)
	if err == nil {
		t.Fatal("a request given up got an answer")
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second): // a hang guard, not a timing
		t.Fatal("the stalled handshake's connection is still open after its request was given up")
	}
	p := tr.pool(req.URL.Host)
	waitFor(t, "the stalled handshake's slot to be freed", func() bool {
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.total == 0
	})
}

// TestAHandshakeCutByItsRequestSentNothing: a request whose context ends
// while the node stalls its handshake (a per-try timeout shorter than the
// handshake timeout) fails with an error that wraps ErrNothingWritten: no
// connection was handed to it. net/http returns the context's bare error
// then, and the attempt was counted as sent: a POST it cut could not have
// gone to another node.
func TestAHandshakeCutByItsRequestSentNothing(t *testing.T) {
	var told atomic.Int32 // the node did nothing wrong: its request left
	_, _, err := cutInAStalledHandshake(t, &Transport{TLSHandshakeTimeout: time.Minute,
		OnHandshakeFailure: func(string, error) { told.Add(1) }})
	if n := told.Load(); n != 0 {
		t.Errorf("OnHandshakeFailure told %d times of a handshake its request's end cut", n)
	}
	if !errors.Is(err, ErrNothingWritten) {
		t.Errorf("%v does not wrap ErrNothingWritten", err)
	}
	var he *HandshakeError
	if !errors.As(err, &he) {
		t.Errorf("%v is no *HandshakeError", err)
	}
}

// cutInAStalledHandshake sends a POST by tr under WithTLS to a node that
// accepts its connection and never answers its ClientHello, and cancels
// it once the node has the connection: the request, a channel told when
// the node's connection closes, and RoundTrip's error.
func cutInAStalledHandshake(t *testing.T, tr *Transport) (*http.Request, <-chan struct{}, error) {
	t.Helper()
	m := newMTLS(t)
	accepted, closed := make(chan struct{}, 1), make(chan struct{}, 1)
	u, _ := rawServer(t, func(nc net.Conn, _ *bufio.Reader) {
		accepted <- struct{}{}
		io.Copy(io.Discard, nc) // never answers the ClientHello
		closed <- struct{}{}
	})
	t.Cleanup(tr.CloseIdleConnections)
	ctx, cancel := context.WithCancel(WithTLS(context.Background(), m.client))
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, strings.Replace(u, "http://", "https://", 1), strings.NewReader("x"))
	done := make(chan error, 1)
	go func() {
		resp, err := tr.RoundTrip(req)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-accepted
	cancel()
	return req, closed, <-done
}

// TestACertificateAlertOnAReusedConnectionIsNoHandshakeFailure: a node
// that reads a POST on a connection it accepted long ago, then sends a
// certificate alert (bad_certificate) in place of an answer, may have
// processed it: the round trip fails without ErrNothingWritten. It was
// taken for a TLS 1.3 handshake refusal, whatever the connection, and the
// POST was sent to another node again.
func TestACertificateAlertOnAReusedConnectionIsNoHandshakeFailure(t *testing.T) {
	m := newMTLS(t)
	keys := &serverSecret{}
	cfg := m.node.Clone()
	cfg.ClientAuth = tls.NoClientCert
	cfg.MinVersion = tls.VersionTLS13
	cfg.SessionTicketsDisabled = true      // no record before the answers
	cfg.DynamicRecordSizingDisabled = true // one record per Write
	cfg.KeyLogWriter = keys
	var processed atomic.Int32
	u, _ := rawServer(t, func(nc net.Conn, _ *bufio.Reader) {
		tc := tls.Server(nc, cfg)
		if tc.Handshake() != nil {
			return
		}
		br := bufio.NewReader(tc)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(tc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok") // record 0
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		io.ReadAll(req.Body)
		processed.Add(1)
		rec, err := keys.alertRecord(tc.ConnectionState().CipherSuite, 1, 42) // record 1: bad_certificate
		if err != nil {
			t.Error(err)
			return
		}
		nc.Write(rec)
		io.Copy(io.Discard, nc)
	})
	url := strings.Replace(u, "http://", "https://", 1)
	tr := fallbackTransport(t)
	resp, err := tlsGet(t, tr, url, m.client)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	ctx, cancel := context.WithTimeout(WithTLS(context.Background(), m.client), 5*time.Second)
	defer cancel()
	post, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader("an order"))
	resp, err = tr.RoundTrip(post)
	if err == nil {
		resp.Body.Close()
		t.Fatalf("answer %d, want the node's alert", resp.StatusCode)
	}
	if !strings.Contains(err.Error(), "bad certificate") {
		t.Fatalf("%v: not the node's alert (the test's record did not decrypt)", err)
	}
	if processed.Load() != 1 {
		t.Fatalf("the node processed %d POSTs", processed.Load())
	}
	if errors.Is(err, ErrNothingWritten) {
		t.Errorf("%v wraps ErrNothingWritten, but the node read and processed the POST", err)
	}
}

// serverSecret keeps a TLS 1.3 server's application traffic secret from
// its key log, to write a record of the server's own.
type serverSecret struct {
	mu     sync.Mutex
	secret []byte
}

func (s *serverSecret) Write(line []byte) (int, error) {
	f := strings.Fields(string(line))
	if len(f) == 3 && f[0] == "SERVER_TRAFFIC_SECRET_0" {
		b, err := hex.DecodeString(f[2])
		if err != nil {
			return 0, err
		}
		s.mu.Lock()
		s.secret = b
		s.mu.Unlock()
	}
	return len(line), nil
}

// alertRecord returns the server's encrypted record number seq (counted
// from the first after the handshake) holding a fatal alert desc.
func (s *serverSecret) alertRecord(suite uint16, seq uint64, desc byte) ([]byte, error) {
	s.mu.Lock()
	secret := s.secret
	s.mu.Unlock()
	hf, keyLen := sha256.New, 16
	switch suite {
	case tls.TLS_AES_128_GCM_SHA256:
	case tls.TLS_AES_256_GCM_SHA384:
		hf, keyLen = sha512.New384, 32
	default:
		return nil, fmt.Errorf("cipher suite %s: the test seals AES-GCM records only", tls.CipherSuiteName(suite))
	}
	label := func(l string, n int) []byte {
		full := "tls13 " + l
		info := append([]byte{byte(n >> 8), byte(n), byte(len(full))}, full...)
		out, err := hkdf.Expand(hf, secret, string(append(info, 0)), n)
		if err != nil {
			panic(err)
		}
		return out
	}
	block, err := aes.NewCipher(label("key", keyLen))
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	nonce := label("iv", 12)
	for i := range 8 {
		nonce[4+i] ^= byte(seq >> (56 - 8*i))
	}
	plain := []byte{2, desc, 21} // fatal, desc; the inner content type: alert
	hdr := []byte{23, 3, 3, 0, byte(len(plain) + aead.Overhead())}
	return aead.Seal(slices.Clone(hdr), nonce, plain, hdr), nil
}

// TestCloseHostClosesATLSNodesConnections: CloseHost, for a node that left
// discovery, closes its connections made for WithTLS's requests, as it
// does its plain ones: the idle one now, a busy one once its request
// ends; the next request shakes hands anew. They were kept, and reused,
// until IdleTimeout: a node gone without closing them was sent requests
// over them, each then waiting for its deadline.
func TestCloseHostClosesATLSNodesConnections(t *testing.T) {
	m := newMTLS(t)
	hold := make(chan chan struct{}, 1)
	closed := make(chan struct{}, 4)
	url, handshakes := tlsNode(t, m.node, func(nc net.Conn, br *bufio.Reader) {
		defer func() { closed <- struct{}{} }()
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if req.URL.Path == "/slow" {
				wait := make(chan struct{})
				hold <- wait
				<-wait
			}
			io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	isClosed := func(which string) {
		t.Helper()
		select {
		case <-closed:
		case <-time.After(5 * time.Second): // a hang guard, not a timing
			t.Fatalf("the %s connection is still open after CloseHost", which)
		}
	}
	tr := fallbackTransport(t)
	resp, err := tlsGet(t, tr, url, m.client)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close() // its connection is idle
	host := strings.TrimPrefix(url, "https://")
	tr.CloseHost(host)
	isClosed("idle") // now
	if n := handshakes.Load(); n != 1 {
		t.Fatalf("%d handshakes before the second request, want 1", n)
	}

	// A busy connection closes once its request ends.
	slow := make(chan error, 1)
	go func() {
		resp, err := tlsGet(t, tr, url+"/slow", m.client)
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		slow <- err
	}()
	wait := <-hold
	if n := handshakes.Load(); n != 2 {
		t.Fatalf("%d handshakes after CloseHost, want 2: a request went over the closed host's idle connection", n)
	}
	tr.CloseHost(host)
	close(wait)
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
	isClosed("busy") // once its request ended
	resp, err = tlsGet(t, tr, url, m.client)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := handshakes.Load(); n != 3 {
		t.Errorf("%d handshakes, want 3: a request went over a connection CloseHost closed", n)
	}
}

// TestTLSSpeaksHTTP11ToANodeThatOffersH2: a config that offers h2 (one
// written for another client) still has this transport's HTTP/1.1
// requests answered by a node that speaks both: http/1.1 alone is
// offered.
func TestTLSSpeaksHTTP11ToANodeThatOffersH2(t *testing.T) {
	m := newMTLS(t)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.Proto)
	}))
	srv.EnableHTTP2 = true
	srv.TLS = m.node.Clone()
	srv.StartTLS()
	t.Cleanup(srv.Close)
	cfg := m.client.Clone()
	cfg.NextProtos = []string{"h2", "http/1.1"}
	resp, err := tlsGet(t, fallbackTransport(t), srv.URL, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "HTTP/1.1" || err != nil {
		t.Fatalf("%d %q %v", resp.StatusCode, b, err)
	}
}
