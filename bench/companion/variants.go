package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/rpc"
	"github.com/sluicehq/sluice/upstream"
)

// callTimeout is every call's deadline, as a backend's incoming budget
// would give it; the same for every variant.
const callTimeout = 5 * time.Second

// variant is one thing measured: call makes one call, and side says which
// process pays for it ("client": this one; "server": the child at
// statsAddr). base names the standard-library variant it is compared with.
type variant struct {
	name, side, base string
	what             string
	call             func(ctx context.Context) error
	statsAddr        string
}

// tunedTransport is the standard library's fair baseline: enough idle
// connections for every caller, the companion client's pool settings.
func tunedTransport(idle int) *http.Transport {
	return &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        idle,
		MaxIdleConnsPerHost: idle,
		IdleConnTimeout:     30 * time.Second,
		DisableCompression:  true,
	}
}

// variants builds the six variants: the client ones call the bare backend
// at muxAddr, the server ones each child with a tuned http.Client.
func variants(muxAddr, rpcAddr string, idle int) ([]variant, error) {
	reg, err := registry.NewStatic(&registry.Node{Service: "greeter", Address: muxAddr})
	if err != nil {
		return nil, err
	}
	sluice := upstream.New(reg)
	plain := &http.Client{Transport: tunedTransport(idle)}
	req := helloRequest{Name: "bench"}
	postPlain := func(addr string) func(ctx context.Context) error {
		url := "http://" + addr + rpc.Path("Greeter.Hello")
		return func(ctx context.Context) error {
			body, err := json.Marshal(req)
			if err != nil {
				return err
			}
			hr, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
			if err != nil {
				return err
			}
			hr.Header.Set("Content-Type", rpc.ContentType)
			hr.Header.Set("Accept", rpc.ContentType)
			resp, err := plain.Do(hr)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("status %d", resp.StatusCode)
			}
			var rsp helloResponse
			return json.NewDecoder(resp.Body).Decode(&rsp)
		}
	}
	getPlain := func(ctx context.Context) error {
		hr, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+muxAddr+"/hello/bench", nil)
		if err != nil {
			return err
		}
		return drain(plain.Do(hr))
	}
	return []variant{
		{name: "http.Client-post", side: "client", base: "http.Client-post",
			what: "http.Client, tuned Transport: JSON POST by hand",
			call: postPlain(muxAddr)},
		{name: "Client.Call", side: "client", base: "http.Client-post",
			what: "upstream.Client.Call, defaults (h1, least_loaded, retries, breaker)",
			call: func(ctx context.Context) error {
				var rsp helloResponse
				return sluice.Call(ctx, "greeter", "Greeter.Hello", req, &rsp)
			}},
		{name: "http.Client-get", side: "client", base: "http.Client-get",
			what: "http.Client, tuned Transport: GET",
			call: getPlain},
		{name: "Client.Do", side: "client", base: "http.Client-get",
			what: "upstream.Client.Do, defaults: GET",
			call: func(ctx context.Context) error {
				hr, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://greeter/hello/bench", nil)
				if err != nil {
					return err
				}
				return drain(sluice.Do(hr))
			}},
		{name: "ServeMux", side: "server", base: "ServeMux", statsAddr: muxAddr,
			what: "bare http.ServeMux handler decoding and encoding the JSON",
			call: postPlain(muxAddr)},
		{name: "Inbound+rpc.Server", side: "server", base: "ServeMux", statsAddr: rpcAddr,
			what: "budget.Inbound in front of rpc.Server",
			call: postPlain(rpcAddr)},
	}, nil
}

// drain reads an answer to its end and closes it; a status other than 200
// is an error.
func drain(resp *http.Response, err error) error {
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d", resp.StatusCode)
	}
	return err
}
