package router_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/router"
	"github.com/sluicehq/sluice/rpc"
	"github.com/sluicehq/sluice/upstream"
)

// UserRequest is what the example's Users.Get endpoint receives: the path
// parameter and the query, merged by the router into one JSON object.
type UserRequest struct {
	ID     string `json:"id"`
	Fields string `json:"fields"`
}

// UserResponse is the answer of the example's Users.Get endpoint.
type UserResponse struct {
	Name string `json:"name"`
}

// A router maps requests to services: an RPC route calls Users.Get with the
// path parameter and the query merged into its JSON request, and an HTTP
// route forwards a path prefix, rewritten, to another service.
func ExampleNew() {
	users := rpc.NewServer()
	rpc.Register(users, "Users.Get", func(ctx context.Context, req *UserRequest) (*UserResponse, error) {
		return &UserResponse{Name: "user " + req.ID + " (" + req.Fields + ")"}, nil
	})
	usersSrv := httptest.NewServer(budget.Inbound(budget.ServerPolicy{})(users))
	defer usersSrv.Close()
	shopSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "shop saw %s %s", r.Method, r.URL.Path)
	}))
	defer shopSrv.Close()

	reg, err := registry.NewStatic(
		&registry.Node{Service: "users", Address: usersSrv.Listener.Addr().String()},
		&registry.Node{Service: "shop", Address: shopSrv.Listener.Addr().String()},
	)
	if err != nil {
		log.Fatal(err)
	}
	rt, err := router.New([]router.Route{
		{Method: "GET", Path: "/users/{id}", Service: "users", Endpoint: "Users.Get",
			Budget: budget.Policy{Timeout: 2 * time.Second}},
		{Method: "*", Path: "/shop/*", Service: "shop", Rewrite: "/api/",
			Budget: budget.Policy{Timeout: 5 * time.Second}},
	}, upstream.New(reg), router.Options{})
	if err != nil {
		log.Fatal(err)
	}

	for _, target := range []string{"/users/42?fields=name", "/shop/items/7", "/nowhere"} {
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
		fmt.Println(w.Code, strings.TrimSpace(w.Body.String()))
	}
	// Output:
	// 200 {"name":"user 42 (name)"}
	// 200 shop saw GET /api/items/7
	// 404 {"type":"urn:sluice:problem:no-route","title":"No route","status":404,"detail":"no route matches GET /nowhere"}
}

// New refuses two routes that could match the same request, naming the
// later one in a *FieldError.
func ExampleFieldError() {
	policy := budget.Policy{Timeout: time.Second}
	_, err := router.New([]router.Route{
		{Method: "GET", Path: "/orders/{id}", Service: "orders", Budget: policy},
		{Method: "GET", Path: "/orders/{orderID}", Service: "legacy-orders", Budget: policy},
	}, nil, router.Options{})
	var fe *router.FieldError
	if errors.As(err, &fe) {
		fmt.Println("route", fe.Route, "field", fe.Field)
		fmt.Println(fe.Err)
	}
	// Output:
	// route 1 field path
	// conflicts with route 0 (GET /orders/{id}): both match GET /orders/{orderID}
}

// One budget of held bodies serves every router a process builds, so that a
// reload does not give a flood of stalled uploads a fresh budget; a
// reloaded size applies to the bodies held next.
func ExampleNewBodyBudget() {
	bodies := router.NewBodyBudget(0) // router.DefaultHeldBodyBytes
	for _, routes := range [][]router.Route{
		{{Method: "POST", Path: "/upload", Service: "files", Budget: budget.Policy{Timeout: 30 * time.Second}}},
		{{Method: "POST", Path: "/upload", Service: "files", Budget: budget.Policy{Timeout: time.Minute}}},
	} {
		rt, err := router.New(routes, http.DefaultClient, router.Options{HeldBodies: bodies})
		if err != nil {
			log.Fatal(err)
		}
		_ = rt // serve it, in place of the one before
	}
	bodies.SetMax(256 << 20)
	fmt.Println(bodies.Max()>>20, "MiB;", bodies.Held(), "bytes held;", bodies.Refused(), "refused")
	// Output: 256 MiB; 0 bytes held; 0 refused
}

// Routes the gateway answers itself call no service: an old prefix
// redirected with the rest of its path and its query, a retired one
// answered 410.
func ExampleRedirect() {
	rt, err := router.New([]router.Route{
		{Method: "*", Path: "/v1/*", Redirect: &router.Redirect{To: "/v2/", Status: http.StatusPermanentRedirect}},
		{Method: "*", Path: "/beta/*", Respond: &router.Respond{Status: http.StatusGone, Body: "the beta ended"}},
	}, nil, router.Options{})
	if err != nil {
		log.Fatal(err)
	}
	for _, target := range []string{"/v1/orders/7?full=1", "/beta/x"} {
		w := httptest.NewRecorder()
		rt.ServeHTTP(w, httptest.NewRequest("GET", target, nil))
		fmt.Printf("%d %s%s\n", w.Code, w.Header().Get("Location"), w.Body)
	}
	// Output:
	// 308 /v2/orders/7?full=1
	// 410 the beta ended
}
