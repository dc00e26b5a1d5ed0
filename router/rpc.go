package router

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

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
	var raw []byte
	if r.ContentLength != 0 && r.Body != nil && r.Body != http.NoBody {
		if contentCoded(r.Header) {
			// Read as JSON, a coded body would be refused as malformed (the
			// client blamed), or, were it plain JSON mislabelled, forwarded
			// under a label the rebuilt body does not bear.
			w.Header().Set("Accept-Encoding", "identity")
			problem.Write(w, http.StatusUnsupportedMediaType, problem.TypeBadRequest, "Unsupported content coding",
				"an RPC route reads its body as JSON and applies no content coding: send it without one")
			return
		}
		body := h.newClientBody(ctx, w, r, h.maxBody())
		defer body.detach()
		var err error
		if raw, err = h.readRPCBody(body, r.ContentLength); err != nil {
			h.fail(ctx, w, err) // 400, 408 or 413: the client's
			return
		}
	}
	body, err := h.rpcBody(raw, r)
	if err != nil {
		// Malformed JSON: the client's doing.
		problem.Write(w, http.StatusBadRequest, problem.TypeBadRequest, "Malformed request body", err.Error())
		return
	}
	out := r.WithContext(ctx) // the one copy of the request a forward makes
	out.Method = http.MethodPost
	out.RequestURI = ""
	setOutbound(out, r, url.URL{Scheme: "http", Host: h.route.Service, Path: rpc.Path(h.route.Endpoint)})
	out.Host = h.route.Service
	out.Header.Set("Content-Type", rpc.ContentType)
	out.Header.Del("Content-Length")
	for _, k := range clientBodyFields {
		delete(out.Header, k)
	}
	out.TransferEncoding, out.Trailer = nil, nil
	setReplayableBody(out, body)
	out.Close = false
	h.forward(w, out, nil, nil)
}

// clientBodyFields describe the bytes of the client's body, which an RPC
// route does not forward: the body it sends is one of its own making, JSON
// without any content coding, which the client's digests do not match.
var clientBodyFields = [...]string{"Content-Encoding", "Content-Digest", "Repr-Digest", "Digest", "Content-Md5"}

// contentCoded reports whether h declares a content coding other than
// identity (RFC 9110, section 8.4).
func contentCoded(h http.Header) bool {
	for _, v := range h["Content-Encoding"] {
		for c := range strings.SplitSeq(v, ",") {
			if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "identity") {
				return true
			}
		}
	}
	return false
}

// readRPCBody reads the whole body of an RPC route's request, at most
// the route's bound on bodies of it (maxBody). declared is its
// Content-Length, or -1.
func (h *routeHandler) readRPCBody(body *clientBody, declared int64) ([]byte, error) {
	limit := h.maxBody()
	if err := body.refuseDeclared(declared); err != nil {
		return nil, err
	}
	raw, complete, err := body.hold(declared, int(limit)+1) // one byte over the limit fails the read
	if err == nil && !complete {
		// Not the limit (its read fails): no room in the budget of held
		// bodies, and the body must be whole to merge the parameters into.
		return nil, &HeldBodiesError{Max: body.bodies.Max()}
	}
	return raw, err
}

var errBadBody = errors.New("bad request")

// rpcBody merges raw, the client's body, with r's query and path
// parameters into the JSON object the endpoint gets.
func (h *routeHandler) rpcBody(raw []byte, r *http.Request) ([]byte, error) {
	members := []member{}
	var err error
	// JSON is UTF-8 (RFC 8259, section 8.1). encoding/json would read a
	// member name's invalid bytes as U+FFFD and pass a value's through as
	// they came, so the backend's decoder, not the gateway, would decide
	// what they mean; a query's %FF would become U+FFFD unseen.
	if !utf8.Valid(raw) {
		return nil, fmt.Errorf("%w: the body is not UTF-8", errBadBody)
	}
	if len(bytes.TrimSpace(raw)) > 0 {
		if members, err = decodeMembers(raw); err != nil || members == nil {
			return nil, fmt.Errorf("%w: the body must be a JSON object: %v", errBadBody, jsonProblem(err))
		}
	}
	query := r.URL.Query()
	for k, vv := range query {
		if !utf8.ValidString(k) || !validStrings(vv) {
			return nil, fmt.Errorf("%w: query parameter %q is not UTF-8", errBadBody, strings.ToValidUTF8(k, "\uFFFD"))
		}
	}
	var keyBuf, valueBuf [4]string // a route's few path parameters, on the stack
	keys, values := keyBuf[:0], valueBuf[:0]
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
			keys, values = append(keys, k), append(values, v)
		}
	}
	if len(query) > 0 || len(keys) > 0 {
		fields := fieldsOf(members)
		mergeParams(fields, query, keys, values)
		members = membersOf(fields)
	}
	return encodeMembers(members)
}

// marshal encodes v as json.Marshal does, less its escaping of '<', '>',
// '&', U+2028 and U+2029, which is for JSON put in HTML. The body's members
// are re-encoded raw values, and json.Marshal escaped them again: a value
// of 1 MiB of '<' came out at 6 MiB, past the bound that the gateway
// checked, and the held bodies' budget, which counted 1 MiB; and the
// backend got other bytes than the client sent for strings it could read
// alike.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// mergeParams sets the query's parameters, then the path's (keys and
// values), in fields, each over the members that fold to its name
// (rpcfold.go). Members of the same source are left as they are: the
// client wrote them all.
func mergeParams(fields map[string]json.RawMessage, query map[string][]string, keys, values []string) {
	f := folded{fields: fields}
	for k := range query {
		f.drop(k)
	}
	for k, vv := range query {
		var v json.RawMessage
		if len(vv) == 1 {
			v, _ = marshal(vv[0])
		} else {
			v, _ = marshal(vv)
		}
		f.set(k, v)
	}
	for _, k := range keys {
		f.drop(k)
	}
	for i, k := range keys {
		v, _ := marshal(values[i])
		f.set(k, v)
	}
}

// validStrings reports whether every one of vv is UTF-8.
func validStrings(vv []string) bool {
	for _, v := range vv {
		if !utf8.ValidString(v) {
			return false
		}
	}
	return true
}

func jsonProblem(err error) string {
	if err == nil {
		return "got null"
	}
	return err.Error()
}
