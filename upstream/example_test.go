package upstream_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/rpc"
	"github.com/sluicehq/sluice/selector"
	"github.com/sluicehq/sluice/upstream"
)

// HelloRequest is the request of the example's Greeter.Hello.
type HelloRequest struct {
	Name string `json:"name"`
}

// HelloResponse is the answer of the example's Greeter.Hello.
type HelloResponse struct {
	Message string `json:"message"`
	Hop     int    `json:"hop"`
}

// A backend serves Greeter.Hello with rpc.Server behind budget.Inbound, and
// another service calls it by name through a Client. Handler errors come back
// as *rpc.Error, which rpc.StatusOf maps onto the status to answer with.
func ExampleClient_Call() {
	srv := rpc.NewServer()
	rpc.Register(srv, "Greeter.Hello", func(ctx context.Context, req *HelloRequest) (*HelloResponse, error) {
		if req.Name == "" {
			return nil, rpc.Errorf(http.StatusBadRequest, "name is required")
		}
		info, _ := budget.FromContext(ctx) // the caller's budget, hop and retries
		return &HelloResponse{Message: "Hello, " + req.Name + "!", Hop: info.Hop}, nil
	})
	backend := httptest.NewServer(budget.Inbound(budget.ServerPolicy{})(srv))
	defer backend.Close()

	reg, err := registry.NewStatic(&registry.Node{Service: "greeter", Address: backend.Listener.Addr().String()})
	if err != nil {
		log.Fatal(err)
	}
	client := upstream.New(reg)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var rsp HelloResponse
	if err := client.Call(ctx, "greeter", "Greeter.Hello", HelloRequest{Name: "Ada"}, &rsp); err != nil {
		log.Fatal(err)
	}
	fmt.Println(rsp.Message, "hop", rsp.Hop)

	err = client.Call(ctx, "greeter", "Greeter.Hello", HelloRequest{}, &rsp)
	status, _, _ := rpc.StatusOf(err)
	fmt.Println(status, err)
	// Output:
	// Hello, Ada! hop 1
	// 400 rpc: 400 Bad Request: name is required
}

// Do sends any HTTP request to the service its URL's host names, stamping the
// Sluice-Budget field on each attempt.
func ExampleClient_Do() {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h, err := budget.Parse(r.Header.Get(budget.HeaderName))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%s %s at hop %d", r.Method, r.URL.Path, h.Hop)
	}))
	defer backend.Close()

	reg, err := registry.NewStatic(&registry.Node{Service: "inventory", Address: backend.Listener.Addr().String()})
	if err != nil {
		log.Fatal(err)
	}
	client := upstream.New(reg)

	req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://inventory/items/42", nil)
	if err != nil {
		log.Fatal(err)
	}
	resp, err := client.Do(req) // no deadline: the client's default timeout applies
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(resp.StatusCode, string(body))
	// Output: 200 GET /items/42 at hop 1
}

// New takes discovery, then options. A service that discovery cannot find
// fails the call with an error that rpc.StatusOf maps to 503.
func ExampleNew() {
	reg, err := registry.NewStatic() // knows no service yet
	if err != nil {
		log.Fatal(err)
	}
	client := upstream.New(reg,
		upstream.WithStrategy(selector.Random),
		upstream.WithMaxRetries(1),
		upstream.WithMargin(5*time.Millisecond),
		upstream.WithDefaultTimeout(3*time.Second),
	)
	err = client.Call(context.Background(), "billing", "Billing.Charge", struct{}{}, nil)
	status, typ, title := rpc.StatusOf(err)
	fmt.Println(status, typ, title)
	// Output: 503 urn:sluice:problem:no-nodes No nodes available
}

// A service whose nodes speak TLS, with certificates an authority of the
// operator's own signs for the service's name (here httptest's, for
// example.com), is called as any other once the client knows how to
// verify them.
func ExampleWithServiceTLS() {
	srv := rpc.NewServer()
	rpc.Register(srv, "Greeter.Hello", func(ctx context.Context, req *HelloRequest) (*HelloResponse, error) {
		return &HelloResponse{Message: "Hello, " + req.Name + "!"}, nil
	})
	backend := httptest.NewTLSServer(budget.Inbound(budget.ServerPolicy{})(srv))
	defer backend.Close()

	roots := x509.NewCertPool()
	roots.AddCert(backend.Certificate())
	reg, err := registry.NewStatic(&registry.Node{Service: "greeter", ID: "g1", Address: backend.Listener.Addr().String()})
	if err != nil {
		log.Fatal(err)
	}
	c := upstream.New(reg, upstream.WithServiceTLS("greeter", &tls.Config{RootCAs: roots, ServerName: "example.com"}))

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var rsp HelloResponse
	err = c.Call(ctx, "greeter", "Greeter.Hello", HelloRequest{Name: "Ada"}, &rsp)
	fmt.Println(rsp.Message, err)
	// Output: Hello, Ada! <nil>
}
