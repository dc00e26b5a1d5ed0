package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/sluicehq/sluice/internal/tlscert/certtest"
	"github.com/sluicehq/sluice/rpc"
)

// tlsNode is a backend that speaks TLS with its certificate and requires a
// client certificate of clientCA. It counts its API requests and its
// health probes, answers with the client certificate's name, and closes the connection after an answer to a path ending in /close.
type tlsNode struct {
	addr     string
	requests atomic.Int64
	probes   chan struct{} // one value per probe, as long as there is room
}

func newTLSNode(t *testing.T, cert tls.Certificate, clientCA *certtest.CA) *tlsNode {
	t.Helper()
	n := &tlsNode{probes: make(chan struct{}, 64)}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			select {
			case n.probes <- struct{}{}:
			default:
			}
			return
		}
		n.requests.Add(1)
		if strings.HasSuffix(r.URL.Path, "/close") {
			w.Header().Set("Connection", "close")
		}
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, "ok "+r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCA.Pool}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the impostors' failed handshakes
	srv.StartTLS()
	t.Cleanup(srv.Close)
	n.addr = srv.Listener.Addr().String()
	return n
}

// TestServicesReachedOverMutualTLS runs the gateway with two services
// whose nodes require its client certificate, each with an impostor among
// them: a node whose certificate another authority signed. Every request
// of the service without a health check, POSTs included, is answered by
// its good nodes, the impostor reading none (each handshake that fails
// sends nothing, and the request goes to another node), and its failures
// are logged and counted; the other
// service's health check, over TLS too, takes its impostor out and passes
// its good node. A client certificate replaced on disk is sent from the
// next connection after SIGHUP.
func TestServicesReachedOverMutualTLS(t *testing.T) {
	dir := t.TempDir()
	nodeCA, clientCA, strangers := certtest.NewCA(t), certtest.NewCA(t), certtest.NewCA(t)
	caFile := nodeCA.WriteCA(t, dir, "nodes-ca.pem")
	client := clientCA.Client(t, "gateway")
	certFile, keyFile := client.Write(t, dir, "client")
	orders := []*tlsNode{newTLSNode(t, nodeCA.Server(t, "orders").TLS, clientCA),
		newTLSNode(t, strangers.Server(t, "orders").TLS, clientCA),
		newTLSNode(t, nodeCA.Server(t, "orders").TLS, clientCA)}
	stock := []*tlsNode{newTLSNode(t, nodeCA.Server(t, "stock.internal").TLS, clientCA),
		newTLSNode(t, strangers.Server(t, "stock.internal").TLS, clientCA)}
	impostor, stockImpostor := orders[1], stock[1]

	text := `listeners: [{address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
registry:
  static:
`
	for _, n := range orders {
		text += fmt.Sprintf("    - {service: orders, address: %q}\n", n.addr)
	}
	for _, n := range stock {
		text += fmt.Sprintf("    - {service: stock, address: %q}\n", n.addr)
	}
	tlsField := fmt.Sprintf("{ca_file: %s, cert_file: %s, key_file: %s}", caFile, certFile, keyFile)
	text += `services:
  orders:
    tls: ` + tlsField + `
  stock:
    tls: {ca_file: nodes-ca.pem, cert_file: client.crt, key_file: client.key, server_name: stock.internal}
    health_check: {path: /healthz, interval: 20ms}
routes:
  - {method: "*", path: /orders/*, service: orders}
  - {path: /stock, service: stock}
`
	path := filepath.Join(dir, "gateway.yaml")
	writeFile(t, path, text)
	hup := make(chan os.Signal, 1)
	g := runGatewaySignalled(t, hup, "-config", path)

	post := func(url string) (int, string) {
		t.Helper()
		resp, err := g.client.Post(url, "text/plain", strings.NewReader("an order"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for i := range 60 {
		if code, body := post(g.front + "/orders/new"); code != 200 || body != "ok gateway" {
			t.Fatalf("POST %d: %d %q", i, code, body)
		}
	}
	if n := impostor.requests.Load(); n != 0 {
		t.Errorf("the impostor read %d requests", n)
	}
	if a, b := orders[0].requests.Load(), orders[2].requests.Load(); a+b != 60 || a == 0 || b == 0 {
		t.Errorf("the good nodes read %d and %d requests, want 60 between them, each some", a, b)
	}
	// The impostor's failed handshakes, each retried, are told all the same.
	failed := g.logs.waitFor(t, "TLS handshake with a node failed; its request goes to another node", 1)
	if failed[0]["node"] != impostor.addr || !strings.Contains(fmt.Sprint(failed[0]["error"]), "certificate") {
		t.Errorf("logged %v, want the impostor at %s, for its certificate", failed[0], impostor.addr)
	}
	if v := g.metric("sluice_upstream_tls_handshake_failures_total"); v == "" || v == "0" {
		t.Errorf("sluice_upstream_tls_handshake_failures_total = %q, want the impostor's failures counted", v)
	}

	left := g.logs.waitFor(t, "a node fails its health check; it serves no more requests until it passes", 1)
	if left[0]["node"] != stockImpostor.addr || !strings.Contains(fmt.Sprint(left[0]["error"]), "certificate") {
		t.Fatalf("logged %v, want the stock impostor at %s, for its certificate", left[0], stockImpostor.addr)
	}
	// One probe of a node at a time: once its fourth has come, the first
	// three were judged, and two failures would have been logged.
	for range 4 {
		recvWithin(t, stock[0].probes, "a probe of the good stock node")
	}
	if failed, _ := g.logs.find("a node fails its health check; it serves no more requests until it passes"); len(failed) != 1 {
		t.Fatalf("%d nodes failed their checks, want the impostor alone: %v", len(failed), failed)
	}
	for i := range 20 {
		if code, body := g.fetch(g.front + "/stock"); code != 200 || body != "ok gateway" {
			t.Fatalf("GET /stock %d: %d %q", i, code, body)
		}
	}

	sample := `sluice_certificate_expiry_timestamp_seconds{file="` + certFile + `",use="backend_client"}`
	if v, err := strconv.ParseFloat(g.metric(sample), 64); err != nil || int64(v) != client.Cert.NotAfter.Unix() {
		t.Errorf("%s = %v (%v), want %d", sample, v, err, client.Cert.NotAfter.Unix())
	}

	clientCA.Client(t, "gateway-2").Write(t, dir, "client")
	hup <- syscall.SIGHUP
	// One pair, the two services'; its files' poll (every 5 s) may take the
	// change first, but the signal reloads it all the same.
	for n := 1; ; n++ {
		if g.logs.waitFor(t, "backend client certificate reloaded", n)[n-1]["trigger"] == "reload signal" {
			break
		}
	}
	// The connections made before go on with the certificate of their
	// handshake; each answer to /close ends one, so a new handshake comes
	// within as many requests as there were connections.
	for i := 0; ; i++ {
		code, body := post(g.front + "/orders/close")
		if code != 200 || !strings.HasPrefix(body, "ok gateway") {
			t.Fatalf("POST /orders/close %d: %d %q", i, code, body)
		}
		if body == "ok gateway-2" {
			break
		}
		if i == 100 {
			t.Fatal("100 requests after the certificate changed were all sent with the old one")
		}
	}
}

// recvWithin waits for a value on ch for at most waitLimit.
func recvWithin[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(waitLimit):
		t.Fatalf("no %s within %s", what, waitLimit)
		panic("unreachable")
	}
}

// TestUpgradesReachTLSNodes: a WebSocket and a sluice.stream.v1 stream
// through the gateway reach a node over mutual TLS, and echo.
func TestUpgradesReachTLSNodes(t *testing.T) {
	dir := t.TempDir()
	nodeCA, clientCA := certtest.NewCA(t), certtest.NewCA(t)
	caFile := nodeCA.WriteCA(t, dir, "ca.pem")
	certFile, keyFile := clientCA.Client(t, "gateway").Write(t, dir, "client")
	srv := httptest.NewUnstartedServer(upgradeHandler())
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{nodeCA.Server(t, "svc").TLS},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCA.Pool}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	text := configText(srv.Listener.Addr().String(), "  - {path: /ws, service: svc}\n  - {path: /rpc/*, service: svc}\n") +
		fmt.Sprintf("services:\n  svc:\n    tls: {ca_file: %s, cert_file: %s, key_file: %s}\n", caFile, certFile, keyFile)
	path := filepath.Join(dir, "gateway.yaml")
	writeFile(t, path, text)
	g := runGateway(t, "-config", path)
	front := strings.TrimPrefix(g.front, "http://")

	ctx, cancel := context.WithTimeout(context.Background(), waitLimit)
	defer cancel()
	ws, _, err := websocket.Dial(ctx, "ws://"+front+"/ws", nil)
	if err != nil {
		t.Fatalf("WebSocket through the gateway: %v", err)
	}
	defer ws.CloseNow()
	st, err := rpc.DialStream(ctx, "http://"+front+"/rpc/Chat.Echo", rpc.DialOptions{})
	if err != nil {
		t.Fatalf("sluice.stream.v1 through the gateway: %v", err)
	}
	defer st.Close()
	echoBoth(t, ctx, ws, st, "one")
	echoBoth(t, ctx, ws, st, "two")
}
