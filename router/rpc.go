package router

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"

	"github.com/go-chi/chi/v5"

	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/rpc"
)

// serveRPC calls the route's endpoint with a JSON object made of the request
// body's members, overridden by query parameters, overridden by path
// parameters.
func (h *routeHandler) serveRPC(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	// The client's Content-Type is not checked: whatever it says, the body
	// must parse as a JSON object, and the backend gets application/json.
	body, err := h.rpcBody(w, r)
	if err != nil {
		var tooBig *http.MaxBytesError
		switch {
		case errors.As(err, &tooBig):
			problem.Write(w, http.StatusRequestEntityTooLarge, problem.TypeBadRequest, "Request body too large",
				fmt.Sprintf("the limit is %d bytes", h.opts.MaxBodyBytes))
		case ctx.Err() != nil:
			h.fail(ctx, w, ctx.Err()) // 499, or 504 if the budget ran out reading
		default:
			// Malformed JSON, or a body cut short: the client's doing.
			problem.Write(w, http.StatusBadRequest, problem.TypeBadRequest, "Malformed request body", err.Error())
		}
		return
	}
	out := r.WithContext(ctx) // the one copy of the request a forward makes
	out.Method = http.MethodPost
	out.RequestURI = ""
	out.URL = &url.URL{Scheme: "http", Host: h.route.Service, Path: rpc.Path(h.route.Endpoint)}
	out.Host = h.route.Service
	out.Header = outboundHeader(r)
	out.Header.Set("Content-Type", rpc.ContentType)
	out.Header.Del("Content-Length")
	out.ContentLength = int64(len(body))
	setReplayableBody(out, body)
	out.Close = false
	h.forward(w, out)
}

var errBadBody = errors.New("bad request")

func (h *routeHandler) rpcBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	if err != nil {
		return nil, err
	}
	fields := make(map[string]json.RawMessage)
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
			return nil, fmt.Errorf("%w: the body must be a JSON object: %v", errBadBody, jsonProblem(err))
		}
	}
	for k, vv := range r.URL.Query() {
		if len(vv) == 1 {
			fields[k], _ = json.Marshal(vv[0])
		} else {
			fields[k], _ = json.Marshal(vv)
		}
	}
	if rc := chi.RouteContext(r.Context()); rc != nil {
		// chi matches the escaped path when it differs from the default
		// encoding (RawPath set), else the decoded one: only values of the
		// former are still escaped. Unescaping the latter again would turn
		// /greet/100%2525 into "100%" and refuse /greet/50%25.
		escaped := r.URL.RawPath != ""
		for i, k := range rc.URLParams.Keys {
			if k == "*" {
				continue
			}
			v := rc.URLParams.Values[i]
			if escaped {
				var err error
				if v, err = url.PathUnescape(v); err != nil {
					return nil, fmt.Errorf("%w: path parameter %s: %v", errBadBody, k, err)
				}
			}
			fields[k], _ = json.Marshal(v)
		}
	}
	return json.Marshal(fields)
}

func jsonProblem(err error) string {
	if err == nil {
		return "got null"
	}
	return err.Error()
}
