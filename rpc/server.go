package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/sluicehq/sluice/internal/problem"
)

// DefaultMaxBodyBytes bounds request bodies when Server.MaxBodyBytes is zero.
const DefaultMaxBodyBytes = 1 << 20

// Server serves RPC endpoints under PathPrefix. Register endpoints before
// serving; ServeHTTP is then safe for concurrent use. Mount it on a mux at
// PathPrefix, behind budget.Inbound so that handlers' contexts carry the
// caller's deadline.
type Server struct {
	// MaxBodyBytes bounds request bodies; larger ones are answered 413. Zero
	// means DefaultMaxBodyBytes.
	MaxBodyBytes int64

	endpoints map[string]endpointFunc
}

type endpointFunc func(ctx context.Context, body []byte) (any, error)

// NewServer returns a Server with no endpoints.
func NewServer() *Server { return &Server{endpoints: make(map[string]endpointFunc)} }

// Register adds the endpoint named endpoint (Service.Method) to s. The handler
// gets the decoded request and the request's context; it returns a response,
// encoded as JSON, or an error, answered as StatusOf maps it (return an
// *Error to choose the status). Register panics on a malformed or repeated
// endpoint name, as http.ServeMux does: that is a programming error.
func Register[Req, Rsp any](s *Server, endpoint string, handler func(ctx context.Context, req *Req) (*Rsp, error)) {
	if err := ValidateEndpoint(endpoint); err != nil {
		panic(fmt.Sprintf("rpc: Register(%q): %v", endpoint, err))
	}
	if _, dup := s.endpoints[endpoint]; dup {
		panic(fmt.Sprintf("rpc: Register(%q): endpoint already registered", endpoint))
	}
	s.endpoints[endpoint] = func(ctx context.Context, body []byte) (any, error) {
		req := new(Req)
		if len(bytes.TrimSpace(body)) > 0 {
			// json.Unmarshal accepts exactly the bodies that one
			// Decoder.Decode followed by nothing but white space does,
			// without the decoder, its reader and its copy of the body;
			// the decoder is used only to word a refusal.
			if err := json.Unmarshal(body, req); err != nil {
				return nil, malformed(body, new(Req))
			}
		}
		return handler(ctx, req)
	}
}

// malformed is the answer to a request body that json.Unmarshal refused
// into req: decoded again as one JSON value with a decoder, so that the
// detail says what is wrong with the value, or, when the value is good,
// that data follows it (FuzzUnmarshalMatchesDecoder).
func malformed(body []byte, req any) error {
	detail := "data after the JSON value"
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(req); err != nil {
		detail = err.Error()
	}
	return &Error{Status: http.StatusBadRequest, Type: problem.TypeBadRequest,
		Title: "Malformed request body", Detail: detail}
}

// Endpoints returns the names of the registered endpoints, in no order.
func (s *Server) Endpoints() []string {
	names := make([]string, 0, len(s.endpoints))
	for name := range s.endpoints {
		names = append(names, name)
	}
	return names
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, ok := strings.CutPrefix(r.URL.Path, PathPrefix)
	fn := s.endpoints[name]
	if !ok || fn == nil {
		problem.Write(w, http.StatusNotFound, problem.TypeNotFound, "No such endpoint",
			"no endpoint is served at "+r.URL.Path)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		problem.Write(w, http.StatusMethodNotAllowed, problem.TypeMethod, "Method not allowed",
			"RPC endpoints take POST")
		return
	}
	// The exact ContentType, as every Sluice client sends it, needs no
	// parse (mime.ParseMediaType allocates its parameters' map).
	if ct := r.Header.Get("Content-Type"); ct != "" && ct != ContentType {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != ContentType {
			problem.Write(w, http.StatusUnsupportedMediaType, problem.TypeBadRequest,
				"Unsupported media type", "send Content-Type: application/json")
			return
		}
	}
	limit := s.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			problem.Write(w, http.StatusRequestEntityTooLarge, problem.TypeBadRequest,
				"Request body too large", fmt.Sprintf("the limit is %d bytes", limit))
			return
		}
		WriteError(w, err)
		return
	}
	rsp, err := fn(r.Context(), body)
	if err != nil {
		WriteError(w, err)
		return
	}
	out, err := json.Marshal(rsp)
	if err != nil {
		WriteError(w, fmt.Errorf("rpc: encoding the response of %s: %w", name, err))
		return
	}
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(out, '\n'))
}
