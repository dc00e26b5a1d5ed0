package consul_test

import (
	"context"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/registry/consul"
)

// A backend announces itself, serves, and on SIGTERM withdraws in the order
// that loses no request: deregister, wait for gateways to notice, drain.
func ExampleRegistry_Announce() {
	client, err := api.NewClient(api.DefaultConfig()) // CONSUL_HTTP_ADDR, or 127.0.0.1:8500
	if err != nil {
		log.Fatal(err)
	}
	reg := consul.New(client)

	srv := &http.Server{Addr: ":8080", Handler: http.NotFoundHandler()}
	go func() {
		if err := srv.ListenAndServe(); err != http.ErrServerClosed {
			log.Fatal(err)
		}
	}()

	a, err := reg.Announce(context.Background(), registry.Registration{
		Node: registry.Node{ID: "orders-7", Service: "orders", Address: "10.0.3.7:8080", Version: "2.4.1"},
		// TTL and DeregisterCriticalAfter default to 10s and 1m.
	}, consul.WithErrorHandler(func(err error) { log.Print(err) }))
	if err != nil {
		log.Fatal(err)
	}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, os.Interrupt)
	<-stop
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.Shutdown(ctx, srv); err != nil {
		log.Print(err)
	}
}

// A gateway reads nodes through a Cache, which watches Consul in the background.
func ExampleNew() {
	client, err := api.NewClient(api.DefaultConfig())
	if err != nil {
		log.Fatal(err)
	}
	cache := registry.NewCache(consul.New(client), registry.WithMaxStale(10*time.Minute))
	defer cache.Close()

	nodes, err := cache.Lookup(context.Background(), "orders") // memory after the first call
	if err != nil {
		log.Fatal(err)
	}
	for _, n := range nodes {
		log.Println(n.Address, n.Version)
	}
}
