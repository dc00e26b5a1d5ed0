package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/internal/pebbletest"
)

// acmeName is the name the tests obtain certificates for; Pebble's DNS
// and the clients' dialer resolve it to 127.0.0.1.
const acmeName = "sluice.test"

// acmeLimit bounds the wait for a certificate: several ACME round trips
// and a validation, on a loaded machine with the race detector.
const acmeLimit = 90 * time.Second

// acmeEnv is Pebble on loopback and the two ports its validation
// authority dials: the gateway's cleartext (http-01) and TLS (tls-alpn-01)
// listeners.
type acmeEnv struct {
	dir               string
	pebble            *pebbletest.Server
	rootPEM           []byte
	roots             *x509.CertPool
	httpPort, tlsPort int
	backend           string
}

func newACMEEnv(t *testing.T) *acmeEnv {
	t.Helper()
	e := &acmeEnv{dir: t.TempDir(), backend: echoBackend(t)}
	e.pebble = pebbletest.Start(t, e.dir, pebbletest.Options{
		Profiles: map[string]time.Duration{"default": 90 * 24 * time.Hour, "shortlived": 30 * time.Second}})
	e.httpPort, e.tlsPort = e.pebble.HTTPPort, e.pebble.TLSPort
	e.rootPEM, e.roots = e.pebble.Root(t)
	return e
}

// start serves a gateway whose TLS listener obtains a certificate for
// acmeName with the given extra acme fields, kept in storage (a directory
// of e.dir), beside a cleartext listener that redirects to https. It
// returns the gateway's log and a function that stops it.
func (e *acmeEnv) start(t *testing.T, storage, extra string, renewCheck time.Duration) (*logBuffer, func()) {
	t.Helper()
	return e.startOn(t, storage, extra, renewCheck, e.tlsPort, e.httpPort)
}

// startOn is start with the TLS and cleartext listeners on other ports
// than those Pebble dials: a replica behind a load balancer that has them.
func (e *acmeEnv) startOn(t *testing.T, storage, extra string, renewCheck time.Duration, tlsPort, httpPort int) (*logBuffer, func()) {
	t.Helper()
	path := filepath.Join(e.dir, fmt.Sprintf("gateway-%d.yaml", tlsPort))
	writeFile(t, path, fmt.Sprintf(`listeners:
  - address: 127.0.0.1:%d
    tls:
      acme:
        directory: %s
        email: ops@example.com
        domains: [%s]
        storage: %s
        ca_roots: pebble-ca.pem
%s  - address: 127.0.0.1:%d
    redirect_https: true
    https_port: %d
admin: {address: "127.0.0.1:0"}
shutdown_grace: 5s
registry:
  static:
    - {service: svc, address: "%s"}
routes:
  - {path: /v1, service: svc}
`, tlsPort, e.pebble.Directory, acmeName, storage, extra, httpPort, e.tlsPort, e.backend))
	cfg, err := config.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	logger, logs := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	g.acmeRenewCheck = renewCheck
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		errc <- g.serve(ctx, make(chan os.Signal), func() (*config.Config, error) { return config.Load(path) })
	}()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-errc:
				if err != nil {
					t.Errorf("serve: %v", err)
				}
			case <-time.After(waitLimit):
				t.Error("the gateway did not stop")
			}
		})
	}
	t.Cleanup(stop)
	logs.waitFor(t, "gateway ready", 1)
	return logs, stop
}

// waitLog waits up to acmeLimit until a line of message msg that has all
// of attrs is logged, and returns it.
func waitLog(t *testing.T, logs *logBuffer, msg string, attrs map[string]any) map[string]any {
	t.Helper()
	deadline := time.After(acmeLimit)
	for {
		found, changed := logs.find(msg)
	lines:
		for _, line := range found {
			for k, v := range attrs {
				if line[k] != v {
					continue lines
				}
			}
			return line
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("gave up waiting for log line %q %v; log:\n%s", msg, attrs, logs.String())
		}
	}
}

// client returns an HTTP client that trusts Pebble's root only and
// resolves every name to 127.0.0.1, with HTTP/2; each call of the
// returned function makes a new connection if fresh is set.
func (e *acmeEnv) client(t *testing.T, fresh bool) *http.Client {
	t.Helper()
	d := &net.Dialer{Timeout: waitLimit}
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: e.roots},
		ForceAttemptHTTP2: true,
		DisableKeepAlives: fresh,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			_, port, _ := net.SplitHostPort(addr)
			return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", port))
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: waitLimit,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (e *acmeEnv) url() string {
	return "https://" + net.JoinHostPort(acmeName, strconv.Itoa(e.tlsPort)) + "/v1"
}

// served GETs the route over TLS and returns the serial of the
// certificate served, failing unless the answer is the backend's over
// HTTP/2 with a chain verified up to Pebble's root.
func (e *acmeEnv) served(c *http.Client) (string, error) {
	resp, err := c.Get(e.url())
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != 200 || string(body) != "/v1" || resp.ProtoMajor != 2 {
		return "", fmt.Errorf("%s %d %q, want the backend's answer over HTTP/2", resp.Proto, resp.StatusCode, body)
	}
	if len(resp.TLS.VerifiedChains) == 0 {
		return "", fmt.Errorf("no verified chain")
	}
	leaf := resp.TLS.PeerCertificates[0]
	if err := leaf.VerifyHostname(acmeName); err != nil {
		return "", err
	}
	return leaf.SerialNumber.String(), nil
}

// The gateway obtains a certificate from Pebble over http-01 (Pebble's
// validation authority fetches the challenge from the cleartext listener,
// which otherwise redirects to https), serves a route with it over HTTP/2,
// and a restart serves the stored certificate without a new order.
func TestACMEObtainsServesAndReusesACertificate(t *testing.T) {
	e := newACMEEnv(t)
	began := time.Now()
	logs, stop := e.start(t, "store", "        challenge: http-01\n        profile: default\n", 0)
	waitLog(t, logs, "acme: certificate obtained", map[string]any{"name": acmeName, "renewal": false})
	waitLog(t, logs, "acme: certificate loaded", nil) // in the cache handshakes read
	t.Logf("first certificate served %v after the gateway started", time.Since(began).Round(time.Millisecond))
	serial, err := e.served(e.client(t, true))
	if err != nil {
		t.Fatal(err)
	}
	// The cleartext listener still redirects what is not a challenge.
	resp, err := e.client(t, true).Get(fmt.Sprintf("http://%s:%d/v1", acmeName, e.httpPort))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusPermanentRedirect {
		t.Errorf("GET /v1 on the cleartext listener: %d, want the redirect to https", resp.StatusCode)
	}
	if curl, err := exec.LookPath("curl"); err == nil {
		root := filepath.Join(e.dir, "pebble-root.pem")
		writeFile(t, root, string(e.rootPEM))
		out, err := exec.Command(curl, "--http2", "-sS", "--max-time", "30", "-o", "/dev/null", "-D", "-",
			"--resolve", fmt.Sprintf("%s:%d:127.0.0.1", acmeName, e.tlsPort), "--cacert", root, e.url()).CombinedOutput()
		if err != nil || !strings.HasPrefix(string(out), "HTTP/2 200") {
			t.Errorf("curl --http2: %v\n%s", err, out)
		}
	} else {
		t.Log("curl is not installed: the HTTP/2 check with curl is left out")
	}
	issued := e.pebble.Issued()
	if issued != 1 {
		t.Errorf("pebble issued %d certificates, want 1", issued)
	}
	stop()

	logs, _ = e.start(t, "store", "        challenge: http-01\n        profile: default\n", 0)
	waitLog(t, logs, "acme: certificate loaded", nil)
	again, err := e.served(e.client(t, true))
	if err != nil {
		t.Fatal(err)
	}
	if again != serial {
		t.Errorf("after a restart the gateway served serial %s, want the stored %s", again, serial)
	}
	if got, _ := logs.find("acme: obtaining a certificate"); len(got) != 0 || e.pebble.Issued() != issued {
		t.Errorf("after a restart: %d orders begun, %d certificates issued; want the stored one reused", len(got), e.pebble.Issued()-issued)
	}
}

// A certificate that nears its end is renewed by the running gateway and
// the new one is served to new connections, while a connection opened
// before keeps working and no request fails. Pebble's "shortlived"
// profile issues 30-second certificates, renewed within their lifetime
// (at the time Pebble's renewal information suggests, or in the last third).
func TestACMERenewsWithoutARestartOrAFailedRequest(t *testing.T) {
	e := newACMEEnv(t)
	logs, _ := e.start(t, "renew", "        profile: shortlived\n", time.Second)
	waitLog(t, logs, "acme: certificate obtained", map[string]any{"name": acmeName, "renewal": false})
	waitLog(t, logs, "acme: certificate loaded", nil) // in the cache handshakes read
	kept := e.client(t, false)
	first, err := e.served(kept)
	if err != nil {
		t.Fatal(err)
	}
	began, requests, serials := time.Now(), 0, map[string]bool{first: true}
	tick := time.NewTicker(100 * time.Millisecond) // pacing the requests, not waiting for a condition
	defer tick.Stop()
	deadline := time.After(acmeLimit)
	for len(serials) < 2 {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("no renewed certificate served after %v and %d requests; log:\n%s", acmeLimit, requests, logs.String())
		}
		requests += 2
		serial, err := e.served(e.client(t, true))
		if err != nil {
			t.Fatalf("request %d on a new connection failed: %v", requests, err)
		}
		serials[serial] = true
		if s, err := e.served(kept); err != nil || s != first {
			t.Fatalf("request %d on the connection opened first: serial %s, %v; want it kept open with its certificate %s", requests, s, err, first)
		}
	}
	waitLog(t, logs, "acme: certificate obtained", map[string]any{"name": acmeName, "renewal": true})
	t.Logf("a renewed certificate served %v and %d requests after the first, none failed; %d certificates issued",
		time.Since(began).Round(time.Millisecond), requests, e.pebble.Issued())
}

// With tls-alpn-01 Pebble validates on the TLS listener itself; a static
// certificate of the same listener is served for the names it covers
// (SNI picks), the ACME one for its name.
func TestACMETLSALPNBesideAStaticCertificate(t *testing.T) {
	e := newACMEEnv(t)
	_, site := siteCerts(t, e.dir)
	logs, _ := e.start(t, "alpn", "        challenge: tls-alpn-01\n        profile: default\n      cert_file: site.crt\n      key_file: site.key\n", 0)
	waitLog(t, logs, "acme: certificate obtained", map[string]any{"name": acmeName, "renewal": false})
	waitLog(t, logs, "acme: certificate loaded", nil) // in the cache handshakes read
	if _, err := e.served(e.client(t, true)); err != nil {
		t.Fatal(err)
	}
	if log := e.pebble.Log(); strings.Contains(log, "validate w/ HTTP") || !strings.Contains(log, "set VALID by completed challenge") {
		t.Errorf("pebble validated over http-01, or not at all:\n%s", log)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", e.tlsPort)
	for _, name := range []string{"127.0.0.1", ""} {
		c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: name, InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.ConnectionState().PeerCertificates[0]; !got.Equal(site.Cert) {
			t.Errorf("SNI %q got %v, want the static certificate", name, got.DNSNames)
		}
		c.Close()
	}
}

// acmeDefaults returns the acme block of a configuration that leaves every
// optional field out, for the documented defaults.
func acmeDefaults(t *testing.T) *config.ACME {
	t.Helper()
	return load(t, `listeners:
  - address: 127.0.0.1:0
    tls: {acme: {domains: [a.example]}}
registry:
  static: [{service: s, address: "127.0.0.1:9"}]
routes:
  - {path: /p, service: s}
`).Listeners[0].TLS.ACME
}
