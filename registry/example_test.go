package registry_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/sluicehq/sluice/registry"
)

// A Static registry, fed from configuration, finds the nodes of a service by
// name; a service it never heard of is ErrNotFound.
func ExampleNewStatic() {
	reg, err := registry.NewStatic(
		&registry.Node{Service: "billing", Address: "10.0.0.1:8080", Version: "1.4.0"},
		&registry.Node{Service: "billing", Address: "10.0.0.2:8080", Version: "1.4.0"},
	)
	if err != nil {
		log.Fatal(err)
	}
	nodes, err := reg.Lookup(context.Background(), "billing")
	if err != nil {
		log.Fatal(err)
	}
	for _, n := range nodes {
		fmt.Println(n, n.Version)
	}
	_, err = reg.Lookup(context.Background(), "payroll")
	fmt.Println(errors.Is(err, registry.ErrNotFound))
	// Output:
	// billing/10.0.0.1:8080@10.0.0.1:8080 1.4.0
	// billing/10.0.0.2:8080@10.0.0.2:8080 1.4.0
	// true
}

// Watch blocks until a service's node set differs from the one its index
// named; a node that registers itself wakes the watcher.
func ExampleStatic_Watch() {
	reg, err := registry.NewStatic(&registry.Node{Service: "search", Address: "10.0.0.1:9200"})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	snap, err := reg.Watch(ctx, "search", 0) // index 0 returns at once
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(snap.Nodes), "node")

	go func() {
		err := reg.Register(ctx, registry.Registration{
			Node: registry.Node{ID: "search-2", Service: "search", Address: "10.0.0.2:9200"},
		})
		if err != nil {
			log.Print(err)
		}
	}()
	next, err := reg.Watch(ctx, "search", snap.Index) // blocks until the registration
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(next.Nodes), "nodes, newer index:", next.Index > snap.Index)
	// Output:
	// 1 node
	// 2 nodes, newer index: true
}

// A Cache serves lookups from memory and follows its backend with a watch of
// its own; Watch on the cache returns once the change has reached it.
func ExampleNewCache() {
	backend, err := registry.NewStatic(&registry.Node{Service: "api", Address: "10.0.0.1:8080"})
	if err != nil {
		log.Fatal(err)
	}
	cache := registry.NewCache(backend, registry.WithMaxStale(time.Minute))
	defer cache.Close()

	ctx := context.Background()
	nodes, err := cache.Lookup(ctx, "api") // the first lookup waits for the backend
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(nodes)

	snap, err := cache.Watch(ctx, "api", 0)
	if err != nil {
		log.Fatal(err)
	}
	backend.Set("api", []*registry.Node{
		{Service: "api", Address: "10.0.0.1:8080"},
		{Service: "api", Address: "10.0.0.3:8080"},
	})
	snap, err = cache.Watch(ctx, "api", snap.Index) // returns once the cache has the change
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(snap.Nodes)
	for _, s := range cache.Status() {
		fmt.Println(s.Service, s.Nodes, s.LastError)
	}
	// Output:
	// [api/10.0.0.1:8080@10.0.0.1:8080]
	// [api/10.0.0.1:8080@10.0.0.1:8080 api/10.0.0.3:8080@10.0.0.3:8080]
	// api 2 <nil>
}

// Validate refuses a node that no client could reach.
func ExampleNode_Validate() {
	for _, n := range []*registry.Node{
		{Service: "api", Address: "10.0.0.1:8080"},
		{Service: "api", Address: "10.0.0.1"},
		{Address: "10.0.0.1:8080"},
	} {
		err := n.Validate()
		fmt.Println(err, errors.Is(err, registry.ErrInvalidNode))
	}
	// Output:
	// <nil> false
	// registry: invalid node "10.0.0.1": address must be host:port, an IPv6 host in brackets true
	// registry: invalid node "10.0.0.1:8080": no service name true
}

// Names gives a Static registry the nodes of a service named by a host
// name, as Compose or Kubernetes name a service's replicas: one node for
// each address the name resolves to (its IPv4 ones first), looked up
// again every refresh while Run runs.
func ExampleNames() {
	reg, err := registry.NewStatic()
	if err != nil {
		log.Fatal(err)
	}
	names := registry.NewNames(reg, registry.NamesOptions{})
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	names.Set(ctx, "billing", []*registry.Node{{Service: "billing", Address: "localhost:8080"}})
	go names.Run(ctx, registry.DefaultDNSRefresh)

	nodes, err := reg.Lookup(ctx, "billing")
	if err != nil {
		log.Fatal(err)
	}
	for _, n := range nodes {
		fmt.Println(n.Address)
	}
	// Output:
	// 127.0.0.1:8080
}
