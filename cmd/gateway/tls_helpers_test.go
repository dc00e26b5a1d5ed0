package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/internal/tlscert/certtest"
)

// tlsGateway is a gateway serving with g.serve, as the command does, with
// its listeners' addresses in the order of the configuration (the admin
// listener last).
type tlsGateway struct {
	g      *gateway
	logs   *logBuffer
	addrs  []string
	reload chan os.Signal
}

// budgetBackend answers every request with the budget header the gateway
// sent, followed by the request's body.
func budgetBackend(t *testing.T) string {
	t.Helper()
	return serveHandler(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, _ = io.WriteString(w, "budget="+r.Header.Get(budget.HeaderName)+string(body))
	}), config.ServerNetHTTP)
}

// startServing writes a configuration of the given listeners (YAML list
// items) and routes GET and POST /v1 to backend, in dir, and serves it; certPoll
// is how often certificate files are checked.
func startServing(t *testing.T, dir, listeners, backend string, certPoll time.Duration) *tlsGateway {
	t.Helper()
	path := filepath.Join(dir, "gateway.yaml")
	writeFile(t, path, "listeners:\n"+listeners+`admin: {address: "127.0.0.1:0"}
shutdown_grace: 5s
registry:
  static:
    - {service: svc, address: "`+backend+`"}
routes:
  - {path: /v1, service: svc}
  - {method: POST, path: /v1, service: svc}
`)
	load := func() (*config.Config, error) { return config.Load(path) }
	cfg, err := load()
	if err != nil {
		t.Fatal(err)
	}
	logger, logs := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	g.certPoll = certPoll
	ctx, cancel := context.WithCancel(context.Background())
	reload := make(chan os.Signal, 1)
	errc := make(chan error, 1)
	go func() { errc <- g.serve(ctx, reload, load) }()
	t.Cleanup(func() {
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
	logs.waitFor(t, "gateway ready", 1)
	n := len(cfg.Listeners) + 1
	tg := &tlsGateway{g: g, logs: logs, reload: reload}
	for _, line := range logs.waitFor(t, "listening", n)[:n] {
		tg.addrs = append(tg.addrs, line["address"].(string))
	}
	return tg
}

// tlsClient returns a client trusting roots, with HTTP/2 if h2, and
// closes its connections when the test ends.
func tlsClient(t *testing.T, roots *x509.CertPool, h2 bool, certs ...tls.Certificate) *http.Client {
	t.Helper()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: certs}, ForceAttemptHTTP2: h2}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: waitLimit}
}

// fetch GETs url and returns the answer with its body read.
func fetch(t *testing.T, c *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// siteCerts makes a CA and a server certificate for 127.0.0.1, written to
// dir/site.crt and dir/site.key.
func siteCerts(t *testing.T, dir string) (*certtest.CA, *certtest.Leaf) {
	t.Helper()
	ca := certtest.NewCA(t)
	leaf := ca.Server(t, "127.0.0.1")
	leaf.Write(t, dir, "site")
	return ca, leaf
}

// metric returns the line of the admin's /metrics that starts with name.
func (tg *tlsGateway) metric(t *testing.T, name string) string {
	t.Helper()
	_, body := fetch(t, &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: waitLimit}, "http://"+tg.addrs[len(tg.addrs)-1]+"/metrics")
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, name) {
			return line
		}
	}
	return ""
}
