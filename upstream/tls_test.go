package upstream_test

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/tlscert/certtest"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/rpc"
	"github.com/sluicehq/sluice/selector"
	"github.com/sluicehq/sluice/upstream"
)

// tlsBackend is a node of service that speaks TLS with cert and requires a
// client certificate of clientCA; it counts the requests it reads.
type tlsBackend struct {
	srv  *httptest.Server
	hits atomic.Int32
}

func newTLSBackend(t *testing.T, id string, cert tls.Certificate, clientCA *certtest.CA, h http.Handler) *tlsBackend {
	t.Helper()
	b := &tlsBackend{}
	b.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		if h != nil {
			h.ServeHTTP(w, r)
			return
		}
		io.WriteString(w, id+" "+r.TLS.PeerCertificates[0].Subject.CommonName)
	}))
	b.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert},
		ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCA.Pool}
	b.srv.StartTLS()
	t.Cleanup(b.srv.Close)
	return b
}

func (b *tlsBackend) node(id string) *registry.Node {
	return &registry.Node{Service: service, ID: id, Address: b.srv.Listener.Addr().String()}
}

// TestServiceTLSSkipsANodeWhoseCertificateFails: a service reached over
// mutual TLS with two nodes, one of which holds a certificate of another
// authority (an impostor, or a node whose certificate was not renewed):
// every call, POSTs included, is answered by the other node, the impostor
// reads no request, and the calls that went to it first are retried at
// once, as a node refusing connections would be.
func TestServiceTLSSkipsANodeWhoseCertificateFails(t *testing.T) {
	nodeCA, clientCA := certtest.NewCA(t), certtest.NewCA(t)
	good := newTLSBackend(t, "good", nodeCA.Server(t, service).TLS, clientCA, nil)
	impostor := newTLSBackend(t, "impostor", certtest.NewCA(t).Server(t, service).TLS, clientCA, nil)
	cfg := &tls.Config{RootCAs: nodeCA.Pool, ServerName: service,
		Certificates: []tls.Certificate{clientCA.Client(t, "gateway").TLS}}
	tr := upstream.NewLeanTransport(upstream.TransportOptions{})
	t.Cleanup(tr.CloseIdleConnections)
	c := upstream.New(staticOf(t, impostor.node("impostor"), good.node("good")),
		upstream.WithTransport(tr), upstream.WithServiceTLS(service, cfg))
	for i := range 40 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+service+"/orders", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := c.Do(req)
		if err != nil {
			cancel()
			t.Fatalf("call %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		cancel()
		if resp.StatusCode != 200 || string(b) != "good gateway" {
			t.Fatalf("call %d: %d %q", i, resp.StatusCode, b)
		}
	}
	if n := impostor.hits.Load(); n != 0 {
		t.Errorf("the impostor read %d requests", n)
	}
	if n := good.hits.Load(); n != 40 {
		t.Errorf("the good node read %d requests, want 40", n)
	}
}

// TestServiceTLSCall: an RPC call to a service reached over TLS.
func TestServiceTLSCall(t *testing.T) {
	nodeCA, clientCA := certtest.NewCA(t), certtest.NewCA(t)
	srv := rpc.NewServer()
	rpc.Register(srv, "Greeter.Hello", func(ctx context.Context, in *struct{ Name string }) (*struct{ Greeting string }, error) {
		return &struct{ Greeting string }{"hello " + in.Name}, nil
	})
	b := newTLSBackend(t, "a", nodeCA.Server(t, "greeter.internal").TLS, clientCA, srv)
	cfg := &tls.Config{RootCAs: nodeCA.Pool, ServerName: "greeter.internal",
		Certificates: []tls.Certificate{clientCA.Client(t, "gateway").TLS}}
	tr := upstream.NewLeanTransport(upstream.TransportOptions{})
	t.Cleanup(tr.CloseIdleConnections)
	c := upstream.New(staticOf(t, b.node("a")), upstream.WithTransport(tr), upstream.WithServiceTLS(service, cfg))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var out struct{ Greeting string }
	if err := c.Call(ctx, service, "Greeter.Hello", struct{ Name string }{"ann"}, &out); err != nil {
		t.Fatal(err)
	}
	if out.Greeting != "hello ann" || b.hits.Load() != 1 {
		t.Fatalf("got %q, %d requests", out.Greeting, b.hits.Load())
	}
}

// TestServiceTLSStream: a stream to a service reached over TLS opens on
// its node whose certificate verifies, the impostor first in line reading
// no handshake, and echoes.
func TestServiceTLSStream(t *testing.T) {
	nodeCA, clientCA := certtest.NewCA(t), certtest.NewCA(t)
	streams := rpc.NewStreamServer()
	rpc.RegisterStream(streams, "Chat.Echo", echo)
	impostor := newTLSBackend(t, "impostor", certtest.NewCA(t).Server(t, service).TLS, clientCA, streams)
	good := newTLSBackend(t, "good", nodeCA.Server(t, service).TLS, clientCA, streams)
	cfg := &tls.Config{RootCAs: nodeCA.Pool, Certificates: []tls.Certificate{clientCA.Client(t, "gateway").TLS}, ServerName: service}
	tr := upstream.NewLeanTransport(upstream.TransportOptions{})
	t.Cleanup(tr.CloseIdleConnections)
	c := upstream.New(staticOf(t, impostor.node("impostor"), good.node("good")), upstream.WithStrategy(inOrder),
		upstream.WithTransport(tr), upstream.WithServiceTLS(service, cfg))
	st := openStream(t, c, waitCtx(t), "Chat.Echo")
	if err := st.Send(waitCtx(t), map[string]string{"text": "hi"}); err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := st.Recv(waitCtx(t), &got); err != nil || got["text"] != "hi" {
		t.Fatalf("echo %v, %v", got, err)
	}
	if impostor.hits.Load() != 0 || good.hits.Load() != 1 {
		t.Fatalf("handshakes: impostor %d, good %d; want 0 and 1", impostor.hits.Load(), good.hits.Load())
	}
}

// stalledNode is a node of service that takes connections and reads
// them, and never answers, a ClientHello or anything else. Each
// connection it accepts is sent on accepted, as long as there is room.
func stalledNode(t *testing.T) (*registry.Node, <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	accepted := make(chan struct{}, 16)
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { nc.Close() })
			select {
			case accepted <- struct{}{}:
			default:
			}
			go io.Copy(io.Discard, nc)
		}
	}()
	return &registry.Node{Service: service, ID: "stalled", Address: ln.Addr().String()}, accepted
}

// TestServiceTLSGivesUpAStalledHandshake: a node that takes connections
// but never answers a ClientHello is given up after the connect timeout,
// as one whose connect hangs is: a POST, which may be sent again only when
// nothing was, goes to the other node within its budget.
func TestServiceTLSGivesUpAStalledHandshake(t *testing.T) {
	nodeCA, clientCA := certtest.NewCA(t), certtest.NewCA(t)
	good := newTLSBackend(t, "good", nodeCA.Server(t, service).TLS, clientCA, nil)
	stalled, _ := stalledNode(t)
	cfg := &tls.Config{RootCAs: nodeCA.Pool, ServerName: service,
		Certificates: []tls.Certificate{clientCA.Client(t, "gateway").TLS}}
	tr := upstream.NewLeanTransport(upstream.TransportOptions{ConnectTimeout: 200 * time.Millisecond})
	t.Cleanup(tr.CloseIdleConnections)
	c := upstream.New(staticOf(t, stalled, good.node("good")), upstream.WithStrategy(inOrder),
		upstream.WithTransport(tr), upstream.WithServiceTLS(service, cfg))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+service+"/orders", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "good gateway" {
		t.Fatalf("POST: %d %q", resp.StatusCode, b)
	}
}

// firstTo is a Strategy whose first pick ever is first, and every other
// one the first node that is not.
func firstTo(first *registry.Node) selector.Strategy {
	var picked atomic.Bool
	return func(nodes []*registry.Node) selector.Picker {
		return pickFunc(func(selector.PickInfo) (*registry.Node, error) {
			if picked.CompareAndSwap(false, true) {
				return first, nil
			}
			for _, n := range nodes {
				if !n.Same(first) {
					return n, nil
				}
			}
			return nil, selector.ErrNoNodes
		})
	}
}

type pickFunc func(selector.PickInfo) (*registry.Node, error)

func (f pickFunc) Pick(info selector.PickInfo) (*registry.Node, error) { return f(info) }

// TestAColdCutOfAnAttemptThatSentNothingIsNotSent: a GET sent as the
// client starts, before the service's latency is known, to a node that
// stalls its TLS handshake (its handshake timeout far away), is cut once
// the latency is known, as a per-try timeout would have cut it. It sent
// nothing, and is counted so (another node for any method, and a retry
// this hop makes though one above retries too), where the cut's own error
// counted it as timed out at its node. The GET goes to the other node.
func TestAColdCutOfAnAttemptThatSentNothingIsNotSent(t *testing.T) {
	nodeCA, clientCA := certtest.NewCA(t), certtest.NewCA(t)
	good := newTLSBackend(t, "good", nodeCA.Server(t, service).TLS, clientCA, nil)
	stalled, accepted := stalledNode(t)
	cfg := &tls.Config{RootCAs: nodeCA.Pool, ServerName: service,
		Certificates: []tls.Certificate{clientCA.Client(t, "gateway").TLS}}
	tr := upstream.NewLeanTransport(upstream.TransportOptions{ConnectTimeout: time.Minute})
	t.Cleanup(tr.CloseIdleConnections)
	obs := &recorder{}
	c := upstream.New(staticOf(t, stalled, good.node("good")), upstream.WithStrategy(firstTo(stalled)),
		upstream.WithTransport(tr), upstream.WithServiceTLS(service, cfg), upstream.WithObserver(obs))
	get := func(ctx context.Context) (string, error) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+service+"/orders", nil)
		resp, err := c.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return string(b), err
	}
	type result struct {
		body string
		err  error
	}
	done := make(chan result, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		body, err := get(ctx)
		done <- result{body, err}
	}()
	recv(t, accepted, "the first GET's connection to the stalled node")
	for i := range 30 { // the service's latency, from the good node
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := get(ctx)
		cancel()
		if err != nil {
			t.Fatalf("GET %d: %v", i, err)
		}
	}
	if r := recv(t, done, "the first GET's end"); r.err != nil || r.body != "good gateway" {
		t.Fatalf("the first GET: %q %v", r.body, r.err)
	}
	obs.mu.Lock()
	defer obs.mu.Unlock()
	if !slices.Contains(obs.ends, "stalled first not-sent") {
		t.Fatalf("attempts %v, want the stalled node's first attempt not-sent", obs.ends)
	}
}
