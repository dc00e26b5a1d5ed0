package main

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/tlscert/certtest"
)

// An HTTPS listener serves HTTP/2 to a client that offers it (ALPN) and
// HTTP/1.1 to one that does not, both through the same handler chain: the
// budget header reaches the backend, metrics count the request, HSTS is
// added. TLS 1.1 is refused; SNI picks the certificate.
func TestTLSListenerServesHTTP2ThroughTheSameChain(t *testing.T) {
	dir := t.TempDir()
	ca, site := siteCerts(t, dir)
	other := ca.Server(t, "b.example")
	other.Write(t, dir, "other")
	tg := startServing(t, dir, `  - address: 127.0.0.1:0
    tls:
      cert_file: site.crt
      key_file: site.key
      certificates: [{cert_file: other.crt, key_file: other.key}]
      hsts: {max_age: 600s, include_subdomains: true}
`, budgetBackend(t), time.Hour)
	url := "https://" + tg.addrs[0] + "/v1"

	for _, h2 := range []bool{true, false} {
		resp, body := fetch(t, tlsClient(t, ca.Pool, h2), url)
		if want := map[bool]int{true: 2, false: 1}[h2]; resp.ProtoMajor != want {
			t.Errorf("HTTP/2 offered %v: answered over %s, want HTTP/%d", h2, resp.Proto, want)
		}
		if resp.StatusCode != 200 || !strings.HasPrefix(body, "budget=") || body == "budget=" {
			t.Errorf("over %s: %d %q, want the backend's answer with the budget header it got", resp.Proto, resp.StatusCode, body)
		}
		if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=600; includeSubDomains" {
			t.Errorf("over %s: Strict-Transport-Security %q", resp.Proto, got)
		}
		if !resp.TLS.PeerCertificates[0].Equal(site.Cert) {
			t.Error("the default certificate was not served to a client asking for 127.0.0.1")
		}
	}
	// A body of unknown length, streamed over HTTP/2, reaches the backend.
	h2 := tlsClient(t, ca.Pool, true)
	pr, pw := io.Pipe()
	go func() {
		_, _ = io.WriteString(pw, "hello, ")
		_, _ = io.WriteString(pw, "backend")
		pw.Close()
	}()
	resp, err := h2.Post(url, "text/plain", pr)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || !strings.HasSuffix(string(body), "hello, backend") || strings.HasPrefix(string(body), "budget=hello") {
		t.Errorf("a streamed POST over %s: %d %q", resp.Proto, resp.StatusCode, body)
	}
	if got := tg.metric(t, `sluice_requests_total{code="200",method="GET",route="GET /v1"}`); got != `sluice_requests_total{code="200",method="GET",route="GET /v1"} 2` {
		t.Errorf("metrics: %q, want both GETs counted", got)
	}
	if got := tg.metric(t, `sluice_requests_total{code="200",method="POST",route="POST /v1"}`); got != `sluice_requests_total{code="200",method="POST",route="POST /v1"} 1` {
		t.Errorf("metrics: %q, want the POST counted", got)
	}

	// SNI: a client asking for b.example gets its certificate.
	c, err := tls.Dial("tcp", tg.addrs[0], &tls.Config{RootCAs: ca.Pool, ServerName: "b.example"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.ConnectionState().PeerCertificates[0].Equal(other.Cert) {
		t.Error("SNI b.example did not get its certificate")
	}
	c.Close()

	// TLS 1.1 is refused.
	if c, err := tls.Dial("tcp", tg.addrs[0], &tls.Config{RootCAs: ca.Pool, MaxVersion: tls.VersionTLS11}); err == nil {
		c.Close()
		t.Error("a TLS 1.1 client was served")
	}

	// The handler half of server.NetHTTP applies over TLS: a chunked
	// request closes its connection.
	client := tlsClient(t, ca.Pool, false)
	req, _ := http.NewRequest("GET", url, strings.NewReader("x"))
	req.ContentLength = -1 // chunked
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !resp.Close {
		t.Error("a chunked request over TLS kept its connection")
	}
}

// h2c: a cleartext listener with h2c serves HTTP/2 with prior knowledge,
// and HTTP/1.1 beside it, through the same chain.
func TestH2CListener(t *testing.T) {
	tg := startServing(t, t.TempDir(), "  - {address: 127.0.0.1:0, h2c: true}\n", budgetBackend(t), time.Hour)
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &p}
	defer tr.CloseIdleConnections()
	resp, body := fetch(t, &http.Client{Transport: tr, Timeout: waitLimit}, "http://"+tg.addrs[0]+"/v1")
	if resp.ProtoMajor != 2 || resp.StatusCode != 200 || body == "budget=" {
		t.Errorf("h2c: %s %d %q, want HTTP/2 and the backend's answer with a budget", resp.Proto, resp.StatusCode, body)
	}
	resp, _ = fetch(t, &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: waitLimit}, "http://"+tg.addrs[0]+"/v1")
	if resp.ProtoMajor != 1 || resp.StatusCode != 200 {
		t.Errorf("HTTP/1.1 beside h2c: %s %d", resp.Proto, resp.StatusCode)
	}
	if got := tg.metric(t, `sluice_requests_total{code="200",method="GET",route="GET /v1"}`); got != `sluice_requests_total{code="200",method="GET",route="GET /v1"} 2` {
		t.Errorf("metrics: %q, want both requests counted", got)
	}
}

// mTLS: a listener that verifies client certificates refuses a client
// without one, or with one of another authority.
func TestTLSListenerRequiresClientCertificates(t *testing.T) {
	dir := t.TempDir()
	ca, _ := siteCerts(t, dir)
	ca.WriteCA(t, dir, "clients.pem")
	tg := startServing(t, dir, "  - address: 127.0.0.1:0\n    tls: {cert_file: site.crt, key_file: site.key, client_ca_file: clients.pem}\n",
		budgetBackend(t), time.Hour)
	url := "https://" + tg.addrs[0] + "/v1"

	if resp, body := fetch(t, tlsClient(t, ca.Pool, true, ca.Client(t, "alice").TLS), url); resp.StatusCode != 200 {
		t.Errorf("a client with a certificate: %d %q", resp.StatusCode, body)
	}
	stranger := certtest.NewCA(t).Client(t, "mallory").TLS
	for name, client := range map[string]*http.Client{
		"no certificate":                     tlsClient(t, ca.Pool, true),
		"a certificate of another authority": tlsClient(t, ca.Pool, true, stranger),
	} {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			t.Errorf("a client with %s was served: %d", name, resp.StatusCode)
		}
	}
}

// redirect_https answers 308 to https, keeping path and query, and keeps
// /healthz for load balancers' checks.
func TestRedirectHTTPSListener(t *testing.T) {
	tg := startServing(t, t.TempDir(), "  - {address: 127.0.0.1:0, redirect_https: true, https_port: 8443}\n  - {address: 127.0.0.1:0, redirect_https: true}\n",
		budgetBackend(t), time.Hour)
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: waitLimit,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(addr, host, path string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+addr+path, strings.NewReader("body"))
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for _, tt := range []struct{ addr, host, path, want string }{
		{tg.addrs[0], "example.com:8080", "/v1?a=b%20c", "https://example.com:8443/v1?a=b%20c"},
		{tg.addrs[1], "example.com", "/v1/x", "https://example.com/v1/x"},
		{tg.addrs[1], "[::1]:80", "/", "https://[::1]/"},
	} {
		resp := get(tt.addr, tt.host, tt.path)
		if resp.StatusCode != http.StatusPermanentRedirect || resp.Header.Get("Location") != tt.want {
			t.Errorf("Host %s %s: %d Location %q, want 308 %q", tt.host, tt.path, resp.StatusCode, resp.Header.Get("Location"), tt.want)
		}
	}
	if resp := get(tg.addrs[1], "example.com", "/healthz"); resp.StatusCode != 200 {
		t.Errorf("/healthz on a redirecting listener: %d, want 200", resp.StatusCode)
	}
	if got := tg.metric(t, `sluice_requests_total{code="308",method="POST",route="(none)"}`); got != `sluice_requests_total{code="308",method="POST",route="(none)"} 3` {
		t.Errorf("metrics: %q, want the redirects counted", got)
	}
}

func TestRedirectHTTPSRefusesAHostItCannotEcho(t *testing.T) {
	for _, host := range []string{"", "evil.com/x", "a@b", "a b"} {
		req := httptest.NewRequest("GET", "/v1", nil)
		req.Host = host
		rec := httptest.NewRecorder()
		redirectHTTPS(0).ServeHTTP(rec, req)
		if rec.Code != http.StatusBadRequest || rec.Header().Get("Location") != "" {
			t.Errorf("Host %q: %d Location %q, want 400", host, rec.Code, rec.Header().Get("Location"))
		}
	}
}

// Certificates replaced on disk are served to new handshakes, on SIGHUP
// and, polled, without it; an open connection keeps working; a bad set is
// refused and the old certificate keeps serving.
func TestTLSCertificatesReloadWithoutDroppingConnections(t *testing.T) {
	for _, viaSignal := range []bool{true, false} {
		name := map[bool]string{true: "SIGHUP", false: "files changed"}[viaSignal]
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			ca, old := siteCerts(t, dir)
			poll := time.Hour
			if !viaSignal {
				poll = 10 * time.Millisecond
			}
			tg := startServing(t, dir, "  - address: 127.0.0.1:0\n    tls: {cert_file: site.crt, key_file: site.key}\n", budgetBackend(t), poll)
			url := "https://" + tg.addrs[0] + "/v1"
			client := tlsClient(t, ca.Pool, true)
			var conns []net.Conn
			var reused []bool
			get := func() *http.Response {
				t.Helper()
				trace := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) {
					conns, reused = append(conns, i.Conn), append(reused, i.Reused)
				}}
				req, _ := http.NewRequest("GET", url, nil)
				resp, err := client.Do(req.WithContext(httptrace.WithClientTrace(req.Context(), trace)))
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				return resp
			}
			resp := get()
			if resp.ProtoMajor != 2 || !resp.TLS.PeerCertificates[0].Equal(old.Cert) {
				t.Fatalf("first request: %s, want HTTP/2 with the first certificate", resp.Proto)
			}
			trigger := func() {
				if viaSignal {
					tg.reload <- syscall.SIGHUP
				}
			}

			// A file that is no certificate: refused, logged, old one serves.
			writeFile(t, dir+"/site.crt", "not a certificate\n")
			trigger()
			tg.logs.waitFor(t, "certificate reload failed; the certificates already loaded keep serving", 1)
			if c := handshakeCert(t, tg.addrs[0], ca); !c.Equal(old.Cert) {
				t.Fatal("after a bad reload a new handshake did not get the old certificate")
			}

			renewed := ca.Server(t, "127.0.0.1")
			renewed.Write(t, dir, "site")
			trigger()
			tg.logs.waitFor(t, "certificates reloaded", 1)
			if c := handshakeCert(t, tg.addrs[0], ca); !c.Equal(renewed.Cert) {
				t.Fatal("a new handshake did not get the renewed certificate")
			}
			// The connection opened before keeps serving, on its handshake.
			resp = get()
			if resp.StatusCode != 200 || !reused[len(reused)-1] || conns[len(conns)-1] != conns[0] {
				t.Errorf("after the reload: %d, reused %v: the open connection was not kept", resp.StatusCode, reused)
			}
		})
	}
}

// handshakeCert returns the certificate a new handshake gets.
func handshakeCert(t *testing.T, addr string, ca *certtest.CA) *x509.Certificate {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0]
}

// net/http's own error answers on a TLS listener are problem bodies, as on
// a cleartext one: a malformed request line, a header over the limit, an
// unsupported version, each written as raw bytes over TLS (HTTP/1.1 by
// ALPN, or no ALPN at all). A client that speaks plain HTTP to the TLS port
// gets a 400 problem too. HTTP/2 still negotiates, and a good request is
// answered as before.
func TestTLSListenerErrorsAreProblems(t *testing.T) {
	dir := t.TempDir()
	ca, _ := siteCerts(t, dir)
	tg := startServing(t, dir, `  - address: 127.0.0.1:0
    tls: {cert_file: site.crt, key_file: site.key}
`, budgetBackend(t), time.Hour)
	addr := tg.addrs[0]
	tests := []struct {
		name   string
		alpn   []string
		raw    string
		status int
	}{
		{"garbage request line", []string{"http/1.1"}, "GARBAGE\r\nHost: h\r\n\r\n", 400},
		{"garbage request line, no ALPN", nil, "GARBAGE\r\nHost: h\r\n\r\n", 400},
		{"header too large", []string{"http/1.1"}, "GET /v1 HTTP/1.1\r\nHost: h\r\nX-Big: " + strings.Repeat("a", 80<<10) + "\r\n\r\n", 431},
		{"unsupported version", []string{"http/1.1"}, "GET /v1 HTTP/3.0\r\nHost: h\r\n\r\n", 505},
		{"bad Host", []string{"http/1.1"}, "GET /v1 HTTP/1.1\r\nHost: a b\r\n\r\n", 400},
		{"good request", []string{"http/1.1"}, "GET /v1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool, NextProtos: tt.alpn})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(waitLimit))
			if _, err := io.WriteString(c, tt.raw); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("answered %d %q, want %d", resp.StatusCode, body, tt.status)
			}
			if ct := resp.Header.Get("Content-Type"); tt.status != 200 && (ct != "application/problem+json" || !strings.Contains(string(body), `"status":`)) {
				t.Errorf("answered with Content-Type %q: %q, want a problem body", ct, body)
			}
		})
	}
	t.Run("plain HTTP to the TLS port", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(waitLimit))
		_, _ = io.WriteString(c, "GET /v1 HTTP/1.1\r\nHost: h\r\n\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("answered %d %q %q, want a 400 problem", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	})
	t.Run("HTTP/2 still negotiated", func(t *testing.T) {
		resp, _ := fetch(t, tlsClient(t, ca.Pool, true), "https://"+addr+"/v1")
		if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
			t.Errorf("answered %d over %s", resp.StatusCode, resp.Proto)
		}
	})
}
