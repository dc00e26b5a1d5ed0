package h1_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/upstream/h1"
)

// The zero Transport is ready to use as an http.Client's transport; a response
// body read to EOF puts its connection back in the pool for the next request.
func ExampleTransport_RoundTrip() {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", r.Method, r.URL.Path)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	tr := &h1.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	for _, path := range []string{"/a", "/b"} {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			log.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body) // to EOF: the connection is reused
		resp.Body.Close()
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(resp.StatusCode, string(body))
	}
	fmt.Println("connections:", conns.Load())
	// Output:
	// 200 GET /a
	// 200 GET /b
	// connections: 1
}

// RoundTripAt sends a request for a service's host name to the node a load
// balancer picked, without copying the request.
func ExampleTransport_RoundTripAt() {
	node := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "Host: %s, path: %s", r.Host, r.URL.Path)
	}))
	defer node.Close()

	tr := &h1.Transport{}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, "http://inventory/items/42", nil)
	if err != nil {
		log.Fatal(err)
	}
	req.Host = "inventory" // RoundTripAt needs Host set
	resp, err := tr.RoundTripAt(req, node.Listener.Addr().String(), time.Time{})
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(string(body))
	// Output: Host: inventory, path: /items/42
}

// A round trip that wrote nothing to any connection wraps ErrNothingWritten:
// the server never saw the request, so a caller may send it again elsewhere,
// whatever its method.
func ExampleTransport_RoundTrip_nothingWritten() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // the request ends before it is sent
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://127.0.0.1:1/orders", http.NoBody)
	if err != nil {
		log.Fatal(err)
	}
	_, err = (&h1.Transport{}).RoundTrip(req)
	fmt.Println(errors.Is(err, h1.ErrNothingWritten), errors.Is(err, context.Canceled))
	// Output: true true
}
