package main

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mholt/acmez/v3"
	"golang.org/x/net/http2"

	"github.com/sluicehq/sluice/internal/tlscert/certtest"
)

// stallGuard bounds the wait for the gateway to close a stalled client:
// far above the 10 s header timeout that should close it, so that only a
// connection the gateway never closes fails.
const stallGuard = 60 * time.Second

// Handshake slowloris through the gateway with the defaults: a client
// that connects to the TLS listener and sends nothing, half a ClientHello,
// or shakes hands (HTTP/1.1 or HTTP/2 by ALPN) and then sends nothing or
// half a request, is closed by the gateway (the 10 s header timeout bounds
// the handshake, then the first request's header; HTTP/2's preface
// timeout, also 10 s, bounds a connection that never sends its preface).
func TestTLSListenerClosesStalledClients(t *testing.T) {
	dir := t.TempDir()
	ca, _ := siteCerts(t, dir)
	tg := startServing(t, dir, "  - {address: 127.0.0.1:0, tls: {cert_file: site.crt, key_file: site.key}}\n", echoBackend(t), time.Hour)
	addr := tg.addrs[0]
	hello := certtest.ClientHello(t)
	type stalled struct {
		name string
		conn net.Conn
	}
	var clients []stalled
	raw := func(name string, sent []byte) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(sent); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, stalled{name, c})
	}
	shaken := func(name string, alpn []string, sent string) {
		c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, NextProtos: alpn})
		if err != nil {
			t.Fatal(err)
		}
		if want := alpn[0]; c.ConnectionState().NegotiatedProtocol != want {
			t.Fatalf("%s: negotiated %q, want %q", name, c.ConnectionState().NegotiatedProtocol, want)
		}
		if _, err := io.WriteString(c, sent); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, stalled{name, c})
	}
	raw("sent nothing", nil)
	raw("sent half a ClientHello", hello[:len(hello)/2])
	shaken("HTTP/1.1, sent nothing after the handshake", []string{"http/1.1"}, "")
	shaken("HTTP/1.1, sent half a request header", []string{"http/1.1"}, "GET /v1 HTTP/1.1\r\nHost: 127.0.0.1\r\n")
	shaken("HTTP/2, sent no preface", []string{"h2"}, "")
	shaken("HTTP/2, sent half the preface", []string{"h2"}, http2.ClientPreface[:10])
	deadline := time.Now().Add(stallGuard)
	for _, c := range clients {
		defer c.conn.Close()
		_ = c.conn.SetReadDeadline(deadline)
	}
	for _, c := range clients {
		_, err := io.Copy(io.Discard, c.conn)
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("%s: still open %v later; the gateway never closed it", c.name, stallGuard)
		}
	}
}

// settingsOf reads the server's first SETTINGS frame on an HTTP/2
// connection c (the client preface already sent).
func settingsOf(t *testing.T, c net.Conn) map[http2.SettingID]uint32 {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(waitLimit))
	fr := http2.NewFramer(io.Discard, c)
	f, err := fr.ReadFrame()
	if err != nil {
		t.Fatal(err)
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok {
		t.Fatalf("first frame %v, want SETTINGS", f)
	}
	got := map[http2.SettingID]uint32{}
	_ = sf.ForeachSetting(func(s http2.Setting) error {
		got[s.ID] = s.Val
		return nil
	})
	return got
}

// The HTTP/2 server of a TLS listener is set up with the limits of the
// h2c one (e2e/hostile/h2_audit_test.go floods the h2c one): both
// advertise the same SETTINGS, the stream limit h2MaxStreams among them,
// and a header list bounded near the 64 KiB header limit.
func TestTLSListenerHTTP2HasTheLimitsOfH2C(t *testing.T) {
	dir := t.TempDir()
	ca, _ := siteCerts(t, dir)
	tg := startServing(t, dir, `  - {address: 127.0.0.1:0, tls: {cert_file: site.crt, key_file: site.key}}
  - {address: 127.0.0.1:0, h2c: true}
`, echoBackend(t), time.Hour)
	tc, err := tls.Dial("tcp", tg.addrs[0], &tls.Config{RootCAs: ca.Pool, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	io.WriteString(tc, http2.ClientPreface)
	overTLS := settingsOf(t, tc)
	pc, err := net.Dial("tcp", tg.addrs[1])
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	io.WriteString(pc, http2.ClientPreface)
	h2c := settingsOf(t, pc)
	if fmt.Sprint(overTLS) != fmt.Sprint(h2c) {
		t.Errorf("SETTINGS over TLS %v, over h2c %v: want the same limits", overTLS, h2c)
	}
	if got := overTLS[http2.SettingMaxConcurrentStreams]; got != h2MaxStreams {
		t.Errorf("MAX_CONCURRENT_STREAMS %d over TLS, want %d", got, h2MaxStreams)
	}
	if got := overTLS[http2.SettingMaxHeaderListSize]; got == 0 || got > 128<<10 {
		t.Errorf("MAX_HEADER_LIST_SIZE %d over TLS, want the header limit (64 KiB) and some slack", got)
	}
}

// SNI on a listener with static certificates: a name is matched in any
// case; a client naming a host no certificate covers, no host, or an
// absurdly long name gets the default certificate (the handshake does
// not fail, and nothing else is served); TLS 1.0 and 1.1 are refused.
func TestTLSListenerSNI(t *testing.T) {
	dir := t.TempDir()
	ca, site := siteCerts(t, dir)
	other := ca.Server(t, "b.example")
	other.Write(t, dir, "other")
	tg := startServing(t, dir, `  - address: 127.0.0.1:0
    tls:
      cert_file: site.crt
      key_file: site.key
      certificates: [{cert_file: other.crt, key_file: other.key}]
`, echoBackend(t), time.Hour)
	for _, c := range []struct {
		sni  string
		want []byte
	}{
		{"b.example", other.Cert.Raw},
		{"B.Example", other.Cert.Raw},
		{"unknown.example", site.Cert.Raw},
		{"", site.Cert.Raw},
		{strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 63) + ".b.example", site.Cert.Raw},
		{strings.Repeat("x.", 2000) + "b.example", site.Cert.Raw},
	} {
		conn, err := tls.Dial("tcp", tg.addrs[0], &tls.Config{ServerName: c.sni, InsecureSkipVerify: true})
		if err != nil {
			t.Errorf("SNI %.40q: %v", c.sni, err)
			continue
		}
		if got := conn.ConnectionState().PeerCertificates[0].Raw; !bytes.Equal(got, c.want) {
			t.Errorf("SNI %.40q: served %s, want %s", c.sni, conn.ConnectionState().PeerCertificates[0].DNSNames, map[bool]string{true: "b.example's", false: "the default"}[bytes.Equal(c.want, other.Cert.Raw)])
		}
		conn.Close()
	}
	for _, v := range []uint16{tls.VersionTLS10, tls.VersionTLS11} {
		if conn, err := tls.Dial("tcp", tg.addrs[0], &tls.Config{RootCAs: ca.Pool, MinVersion: v, MaxVersion: v}); err == nil {
			conn.Close()
			t.Errorf("a %s client was served", tls.VersionName(v))
		}
	}
}

// An ACME listener never asks the CA for a name it was not given (no
// on-demand issuance): handshakes naming random hosts, in any case, with
// or without the acme-tls/1 protocol, get the certificate of its domain
// or fail, and Pebble issues nothing more.
func TestACMEListenerOrdersNoCertificateForAnArbitraryName(t *testing.T) {
	e := newACMEEnv(t)
	logs, _ := e.start(t, "store", "", 0)
	waitLog(t, logs, "acme: certificate loaded", nil)
	issued := e.pebble.Issued()
	addr := fmt.Sprintf("127.0.0.1:%d", e.tlsPort)
	served := 0
	for i, sni := range []string{"attacker-1.test", "ATTACKER-2.TEST", "x." + acmeName, "", "127.0.0.1", strings.ToUpper(acmeName)} {
		for _, alpn := range [][]string{{"h2", "http/1.1"}, {acmez.ACMETLS1Protocol}, {"h2", acmez.ACMETLS1Protocol}} {
			conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: sni, InsecureSkipVerify: true, NextProtos: alpn})
			if err != nil {
				continue // refused: nothing served, nothing ordered
			}
			leaf := conn.ConnectionState().PeerCertificates[0]
			conn.Close()
			served++
			if leaf.VerifyHostname(acmeName) != nil {
				t.Errorf("#%d SNI %q ALPN %v: served a certificate for %v, want the one of %s", i, sni, alpn, leaf.DNSNames, acmeName)
			}
		}
	}
	if served == 0 {
		t.Error("no handshake succeeded: the listener serves nothing, not even its domain's certificate")
	}
	// On-demand issuance would have ordered within the handshake, which
	// the client waited for: its log line would be there already.
	for _, line := range func() []map[string]any { l, _ := logs.find("acme: obtaining a certificate"); return l }() {
		if line["name"] != acmeName {
			t.Errorf("the gateway ordered a certificate for %v, a name a client asked for", line["name"])
		}
	}
	if got := e.pebble.Issued(); got != issued {
		t.Errorf("pebble issued %d more certificates after handshakes for random names", got-issued)
	}
}

// On a listener with acme beside static certificates, only a handshake
// that offers acme-tls/1 alone is a tls-alpn-01 challenge (RFC 8737 3:
// the CA offers that protocol only, and certmagic answers with the
// challenge certificate only then). A client that offers it among others,
// for a name of the static certificates, gets the static certificate: it
// went to certmagic, which has no certificate for the name, and got the
// acme domain's, or a failed handshake before that one was obtained.
func TestACMESiteSendsOnlyChallengesToCertmagic(t *testing.T) {
	site, store, leaf := staticBesideACME(t)
	for _, protos := range [][]string{{"h2", acmez.ACMETLS1Protocol}, {acmez.ACMETLS1Protocol, "http/1.1"}} {
		client, server := net.Pipe()
		defer client.Close()
		defer server.Close()
		hello := &tls.ClientHelloInfo{ServerName: "static.example", SupportedProtos: protos, Conn: server}
		c, err := site.getCertificate(store)(hello)
		if err != nil || c == nil || c.Leaf == nil || !c.Leaf.Equal(leaf) {
			t.Errorf("SNI static.example, ALPN %v: got %v (err %v), want the static certificate", protos, c != nil && c.Leaf != nil, err)
		}
	}
}
