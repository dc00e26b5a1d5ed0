package rpc_test

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/rpc"
)

// HelloRequest is the request of the example's Greeter.Hello.
type HelloRequest struct {
	Name string `json:"name"`
}

// HelloResponse is the answer of the example's Greeter.Hello.
type HelloResponse struct {
	Message string `json:"message"`
}

// A backend registers typed handlers, mounts the server at rpc.PathPrefix
// behind budget.Inbound, and serves. Any HTTP client can call it: this is
// what curl -d '{"name":"Ada"}' does.
func ExampleRegister() {
	srv := rpc.NewServer()
	rpc.Register(srv, "Greeter.Hello", func(ctx context.Context, req *HelloRequest) (*HelloResponse, error) {
		if req.Name == "" {
			return nil, rpc.Errorf(http.StatusBadRequest, "name is required")
		}
		return &HelloResponse{Message: "Hello, " + req.Name + "!"}, nil
	})
	mux := http.NewServeMux()
	mux.Handle(rpc.PathPrefix, budget.Inbound(budget.ServerPolicy{})(srv))
	ts := httptest.NewServer(mux)
	defer ts.Close()

	resp, err := http.Post(ts.URL+rpc.Path("Greeter.Hello"), rpc.ContentType, strings.NewReader(`{"name":"Ada"}`))
	if err != nil {
		log.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%d %s", resp.StatusCode, body)
	// Output: 200 {"message":"Hello, Ada!"}
}

// UserRequest is the request of the example's Users.Get.
type UserRequest struct {
	ID string `json:"id"`
}

// User is the answer of the example's Users.Get.
type User struct {
	Name string `json:"name"`
}

// A handler chooses its failure's status with Errorf; the caller gets a
// problem body, and Client.Call gets it back as an *rpc.Error.
func ExampleErrorf() {
	srv := rpc.NewServer()
	rpc.Register(srv, "Users.Get", func(ctx context.Context, req *UserRequest) (*User, error) {
		return nil, rpc.Errorf(http.StatusNotFound, "no user %q", req.ID)
	})

	w := httptest.NewRecorder()
	srv.ServeHTTP(w, httptest.NewRequest(http.MethodPost, rpc.Path("Users.Get"), strings.NewReader(`{"id":"ada"}`)))
	fmt.Println(w.Code, w.Header().Get("Content-Type"))
	fmt.Print(w.Body.String())
	// Output:
	// 404 application/problem+json
	// {"type":"about:blank","title":"Not Found","status":404,"detail":"no user \"ada\""}
}
