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

// mtlsService is a service reached over mutual TLS: its nodes' authority,
// the authority of the client certificates they require, and the
// client's side of the handshake.
type mtlsService struct {
	name             string
	nodeCA, clientCA *certtest.CA
	cfg              *tls.Config
}

// newMTLSService returns the TLS of service, whose nodes' certificates name
// name.
func newMTLSService(t *testing.T, name string) *mtlsService {
	s := &mtlsService{name: name, nodeCA: certtest.NewCA(t), clientCA: certtest.NewCA(t)}
	s.cfg = &tls.Config{RootCAs: s.nodeCA.Pool, ServerName: name,
		Certificates: []tls.Certificate{s.clientCA.Client(t, "gateway").TLS}}
	return s
}

// node starts a node of the service, serving h (nil: its id and its
// caller's name).
func (s *mtlsService) node(t *testing.T, id string, h http.Handler) *tlsBackend {
	return newTLSBackend(t, id, s.nodeCA.Server(t, s.name).TLS, s.clientCA, h)
}

// impostor starts a node whose certificate names the service, signed by
// another authority.
func (s *mtlsService) impostor(t *testing.T, id string, h http.Handler) *tlsBackend {
	return newTLSBackend(t, id, certtest.NewCA(t).Server(t, s.name).TLS, s.clientCA, h)
}

// client returns a client of nodes, reaching them over the service's TLS
// through a lean transport made with o.
func (s *mtlsService) client(t *testing.T, o upstream.TransportOptions, nodes []*registry.Node, opts ...upstream.Option) *upstream.Client {
	tr := upstream.NewLeanTransport(o)
	t.Cleanup(tr.CloseIdleConnections)
	return upstream.New(staticOf(t, nodes...), append([]upstream.Option{upstream.WithTransport(tr),
		upstream.WithServiceTLS(service, s.cfg)}, opts...)...)
}

// TestServiceTLSSkipsANodeWhoseCertificateFails: a service reached over
// mutual TLS with two nodes, one of which holds a certificate of another
// authority (an impostor, or a node whose certificate was not renewed):
// every call, POSTs included, is answered by the other node, the impostor
// reads no request, and the calls that went to it first are retried at
// once, as a node refusing connections would be.
func TestServiceTLSSkipsANodeWhoseCertificateFails(t *testing.T) {
	svc := newMTLSService(t, service)
	good, impostor := svc.node(t, "good", nil), svc.impostor(t, "impostor", nil)
	c := svc.client(t, upstream.TransportOptions{}, []*registry.Node{impostor.node("impostor"), good.node("good")})
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
	svc := newMTLSService(t, "greeter.internal")
	srv := rpc.NewServer()
	rpc.Register(srv, "Greeter.Hello", func(ctx context.Context, in *struct{ Name string }) (*struct{ Greeting string }, error) {
		return &struct{ Greeting string }{"hello " + in.Name}, nil
	})
	b := svc.node(t, "a", srv)
	c := svc.client(t, upstream.TransportOptions{}, []*registry.Node{b.node("a")})
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
	svc := newMTLSService(t, service)
	streams := rpc.NewStreamServer()
	rpc.RegisterStream(streams, "Chat.Echo", echo)
	impostor, good := svc.impostor(t, "impostor", streams), svc.node(t, "good", streams)
	c := svc.client(t, upstream.TransportOptions{}, []*registry.Node{impostor.node("impostor"), good.node("good")},
		upstream.WithStrategy(inOrder))
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
	svc := newMTLSService(t, service)
	good := svc.node(t, "good", nil)
	stalled, _ := stalledNode(t)
	c := svc.client(t, upstream.TransportOptions{ConnectTimeout: 200 * time.Millisecond},
		[]*registry.Node{stalled, good.node("good")}, upstream.WithStrategy(inOrder))
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
	svc := newMTLSService(t, service)
	good := svc.node(t, "good", nil)
	stalled, accepted := stalledNode(t)
	obs := &recorder{}
	c := svc.client(t, upstream.TransportOptions{ConnectTimeout: time.Minute}, []*registry.Node{stalled, good.node("good")},
		upstream.WithStrategy(firstTo(stalled)), upstream.WithObserver(obs))
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
