package rpc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"time"
	"unicode/utf8"

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
// *Error to choose the status), but that a budget-too-low, which says no
// work was done, is answered 504 budget-spent: the handler ran (ranOut).
// Register panics on a malformed or repeated endpoint name, as
// http.ServeMux does: that is a programming error.
func Register[Req, Rsp any](s *Server, endpoint string, handler func(ctx context.Context, req *Req) (*Rsp, error)) {
	if err := ValidateEndpoint(endpoint); err != nil {
		panic(fmt.Sprintf("rpc: Register(%q): %v", endpoint, err))
	}
	if _, dup := s.endpoints[endpoint]; dup {
		panic(fmt.Sprintf("rpc: Register(%q): endpoint already registered", endpoint))
	}
	s.endpoints[endpoint] = func(ctx context.Context, body []byte) (any, error) {
		req := new(Req)
		if !utf8.Valid(body) {
			// JSON is UTF-8 (RFC 8259, section 8.1); encoding/json would
			// turn each bad byte into U+FFFD and hand the handler other
			// text than was sent, as the gateway's RPC routes refuse to.
			return nil, &Error{Status: http.StatusBadRequest, Type: problem.TypeBadRequest,
				Title: "Malformed request body", Detail: "the body is not UTF-8"}
		}
		if len(bytes.TrimSpace(body)) > 0 {
			// json.Unmarshal accepts exactly the bodies that one
			// Decoder.Decode followed by nothing but white space does,
			// without the decoder, its reader and its copy of the body;
			// the decoder is used only to word a refusal.
			if err := json.Unmarshal(body, req); err != nil {
				return nil, malformed(body, new(Req))
			}
		}
		if err := spent(ctx); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

// spent returns why ctx's budget is over, or nil: its error, or, when its
// deadline passed and its timer has not yet said so (a loaded machine),
// context.DeadlineExceeded. The body's reading and decoding spend the
// budget too: a body of 1 MB under a budget of 1 ms was read in time and
// decoded after it, and the handler was called on a spent budget, to do
// its work (a write, say) for a caller that had given up.
func spent(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// malformed is the answer to a request body that json.Unmarshal refused
// into req: decoded again as one JSON value with a decoder, so that the
// detail says what is wrong with the value, or, when the value is good,
// that data follows it (FuzzUnmarshalMatchesDecoder).
func malformed(body []byte, req any) error {
	detail := "data after the JSON value"
	if err := json.NewDecoder(bytes.NewReader(body)).Decode(req); err != nil {
		detail = decodeDetail(err) // in the body's words, not the handler's types (decodeerror.go)
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
	body, err := readBody(w, r, limit)
	if err != nil {
		WriteError(w, err)
		return
	}
	out, err := answer(r, name, fn, body)
	if deadline, ok := r.Context().Deadline(); ok && noWriteTimeout(r) {
		setWriteDeadline(w, deadline.Add(AnswerGrace))
	}
	if err != nil {
		writeFailure(w, r, name, err)
		return
	}
	w.Header().Set("Content-Type", ContentType)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(out, '\n'))
}

// errPanicked is the failure of an endpoint that panicked: unclassified, so
// answered 500 with no detail.
var errPanicked = errors.New("rpc: the endpoint panicked")

// answer runs the endpoint fn on body and encodes its response. A panic in
// the handler (or in its response's MarshalJSON) is answered as an
// unclassified failure, 500 internal, rather than by net/http cutting the
// connection: a caller, or the gateway, then gets an answer instead of a
// lost connection (502 may-have-been-processed, retried on other nodes for
// idempotent calls, where the same input panics again). The panic goes to
// the log, as net/http would have logged it, never to the caller.
// http.ErrAbortHandler is a deliberate abort and is passed on.
func answer(r *http.Request, name string, fn endpointFunc, body []byte) (out []byte, err error) {
	defer func() {
		if caught(r, name, recover()) {
			out, err = nil, errPanicked
		}
	}()
	rsp, err := fn(r.Context(), body)
	if err != nil {
		return nil, err
	}
	out, err = json.Marshal(rsp)
	if err != nil {
		return nil, fmt.Errorf("rpc: encoding the response of %s: %w", name, err)
	}
	return out, nil
}

// writeFailure answers the error an endpoint failed with, as WriteError
// does. The error's methods are the handler's code as much as its body is:
// one that panics, such as the Problem method of a typed nil pointer (a
// handler's "var err *SomeError; return nil, err") that reads a field, is
// answered as a panicking handler is, 500 internal with the panic logged,
// rather than by net/http cutting the connection. The fields WriteError
// may have set before the panic are its own, and go.
func writeFailure(w http.ResponseWriter, r *http.Request, name string, err error) {
	defer func() {
		if caught(r, name, recover()) {
			w.Header().Del("Sluice-Retry")
			w.Header().Del("Retry-After")
			WriteError(w, errPanicked)
		}
	}()
	WriteError(w, ranOut(err))
}

// ranOut returns the error a handler's failure is answered with: err, but
// for one that StatusOf maps to budget-too-low, which says that no work was
// done (the budget was below a node's minimum, or below every node's
// fastest answer, and nothing was sent). The handler ran: such an error is
// a call it made, its work perhaps done before it, and it is answered as a
// budget that ran out on the handler, 504 budget-spent, which may have
// been processed, with a "no" it carried. Passed on as it was, it read as
// this node's refusal, which the upstream client retries on another node
// for any method: a POST whose handler had written an order, then failed
// its next call so, was made three times
// (TestAHandlerPassingOnABudgetTooLowIsNotRetriedAsUnprocessed in
// upstream).
func ranOut(err error) error {
	if _, typ, _ := StatusOf(err); typ != problem.TypeBudgetTooLow {
		return err
	}
	e := &Error{Status: http.StatusGatewayTimeout, Type: problem.TypeBudgetSpent, Title: "Budget spent",
		Detail: "the budget left was too small for a call the handler made; the request may have been processed"}
	var ra RetryAdvisor
	if errors.As(err, &ra) {
		e.Retry = ra.RetryAdvice()
	}
	return e
}

// caught takes v, what recover returned in an endpoint's code: nothing;
// http.ErrAbortHandler, a deliberate abort, passed on; or a panic, which
// it logs. It reports whether there was a panic to answer.
func caught(r *http.Request, name string, v any) bool {
	if v == nil {
		return false
	}
	if v == http.ErrAbortHandler {
		panic(v)
	}
	logPanic(r, name, v)
	return true
}

// logPanic logs an endpoint's panic with its stack where net/http logs the
// panics it recovers: the http.Server's ErrorLog, else the log package's.
func logPanic(r *http.Request, name string, v any) {
	logf := log.Printf
	if srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server); ok && srv.ErrorLog != nil {
		logf = srv.ErrorLog.Printf
	}
	logf("rpc: panic serving %s from %s: %v\n%s", name, r.RemoteAddr, v, debug.Stack())
}

// readBody reads r's body, at most limit bytes, by the request's deadline
// (the caller's budget, under budget.Inbound): a body still arriving when
// the budget has run out would otherwise hold the handler, its connection
// and up to limit bytes for as long as the caller cares to trickle it
// (net/http bounds it only by a ReadTimeout, which a backend that serves
// streams cannot set). The deadline is the connection's: net/http clears it
// itself as the body's end is read, before it reads the connection again.
//
// A body whose declared length is over limit is refused before a byte of
// it is read: a client that asked to continue (Expect: 100-continue) is
// then not invited to send what would be refused.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	if deadline, ok := r.Context().Deadline(); ok && r.ContentLength != 0 && r.Body != http.NoBody &&
		beforeReadTimeout(r, deadline) {
		setReadDeadline(w, deadline)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		return nil, bodyError(r.Context(), w, err, limit)
	}
	return body, nil
}

// setReadDeadline sets the read deadline of w's connection, as
// http.ResponseController does, without the allocations of its refusal
// (every call in tests, under a recorder): a writer that cannot set it
// leaves the body to its server's timeouts.
func setReadDeadline(w http.ResponseWriter, deadline time.Time) {
	if t, ok := unwrapTo[interface{ SetReadDeadline(time.Time) error }](w); ok {
		_ = t.SetReadDeadline(deadline)
	}
}

// unwrapTo returns w, or the first of the writers it wraps (Unwrap), that
// is a T, as http.ResponseController looks for its methods.
func unwrapTo[T any](w http.ResponseWriter) (T, bool) {
	for {
		if t, ok := w.(T); ok {
			return t, true
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			var none T
			return none, false
		}
		w = u.Unwrap()
	}
}

// AnswerGrace is how long after the request's deadline (its caller's
// budget) the writing of its answer may go on: its caller has given up by
// then, a margin later. A caller that reads none of a large answer held
// the handler's goroutine, its connection and the answer for as long as
// it cared to (net/http bounds it only by a WriteTimeout, which a backend
// that serves streams cannot set), far past its budget.
const AnswerGrace = time.Second

// setWriteDeadline sets the write deadline of w's connection, as
// setReadDeadline does the read deadline; net/http clears it after the
// request.
func setWriteDeadline(w http.ResponseWriter, deadline time.Time) {
	if t, ok := unwrapTo[interface{ SetWriteDeadline(time.Time) error }](w); ok {
		_ = t.SetWriteDeadline(deadline)
	}
}

// noWriteTimeout reports whether r's server sets no WriteTimeout, which
// bounds the answer's writes already, from the request's arrival, and must
// not be extended.
func noWriteTimeout(r *http.Request) bool {
	srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server)
	return !ok || srv.WriteTimeout <= 0
}

// beforeReadTimeout reports whether deadline is earlier than the read
// deadline that r's server's ReadTimeout may have set, so that setting it
// never gives a body more time than the server's operator allows.
func beforeReadTimeout(r *http.Request, deadline time.Time) bool {
	srv, ok := r.Context().Value(http.ServerContextKey).(*http.Server)
	return !ok || srv.ReadTimeout <= 0 || deadline.Before(time.Now().Add(srv.ReadTimeout))
}

// tooLarge is the answer to a body over limit bytes.
func tooLarge(limit int64) error {
	return &Error{Status: http.StatusRequestEntityTooLarge, Type: problem.TypeBadRequest,
		Title: "Request body too large", Detail: fmt.Sprintf("the limit is %d bytes", limit)}
}

// bodyError is the answer to a request whose body could not be read: the
// caller's fault, 4xx, never the 500 of a failure of this server's. ctx is
// the request's.
func bodyError(ctx context.Context, w http.ResponseWriter, err error, limit int64) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return tooLarge(limit)
	}
	// The rest of the body, if any, cannot be found in the connection.
	w.Header().Set("Connection", "close")
	var ne net.Error
	switch ctxErr := ctx.Err(); {
	case errors.Is(ctxErr, context.DeadlineExceeded):
		return &Error{Status: http.StatusRequestTimeout, Type: problem.TypeBadRequest,
			Title: "Request body too slow", Detail: "the request's budget ran out while its body was still arriving"}
	case ctxErr != nil:
		return ctxErr // the caller left: 499, sent to nobody
	case errors.As(err, &ne) && ne.Timeout():
		return &Error{Status: http.StatusRequestTimeout, Type: problem.TypeBadRequest,
			Title: "Request body too slow", Detail: "the body did not arrive within the server's read timeout"}
	case errors.As(err, new(*net.OpError)):
		// Its text names this server's addresses.
		return &Error{Status: http.StatusBadRequest, Type: problem.TypeBadRequest,
			Title: "Malformed request body", Detail: "the connection failed while the body was arriving"}
	}
	return &Error{Status: http.StatusBadRequest, Type: problem.TypeBadRequest,
		Title: "Malformed request body", Detail: "malformed or cut short: " + err.Error()}
}
