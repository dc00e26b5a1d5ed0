package router

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptrace"
	"net/url"

	"github.com/sluicehq/sluice/rpc"
)

// serveHTTP forwards r as plain HTTP under ctx. Its body is read before a
// node is picked, up to MaxReplayBody bytes, and streamed beyond.
// A request that asks to switch protocols goes to serveUpgrade.
func (h *routeHandler) serveHTTP(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	if proto := upgradeProtocol(r.Header); proto != "" {
		h.serveUpgrade(ctx, w, r, proto)
		return
	}
	var early *hints
	if wantsHints(r) {
		early = &hints{w: w}
		ctx = httptrace.WithClientTrace(ctx, early.trace())
	}
	out := r.WithContext(ctx) // the one copy of the request a forward makes
	out.RequestURI = ""
	var trailerNamed []string
	if len(r.Trailer) > 0 { // read before the forward's header drops Connection
		trailerNamed = connectionNamed(nil, r.Header)
	}
	path, rawPath := h.upstreamPath(r)
	setOutbound(out, r, url.URL{Scheme: "http", Host: h.route.Service, Path: path, RawPath: rawPath, RawQuery: r.URL.RawQuery})
	out.Host = r.Host
	out.Close = false
	if r.ContentLength == 0 || r.Body == nil || r.Body == http.NoBody {
		out.Body, out.ContentLength = nil, 0 // nothing to replay: retries stay possible
		h.forward(w, out, nil, early)
		return
	}
	body := h.newClientBody(ctx, w, r, h.route.MaxBodyBytes)
	defer body.detach()
	if err := body.refuseDeclared(r.ContentLength); err != nil {
		early.close()
		h.fail(ctx, w, err) // 413 before any node: the client's
		return
	}
	head, complete, err := body.hold(r.ContentLength, MaxReplayBody)
	if err != nil {
		early.close()
		h.fail(ctx, w, err)
		return
	}
	switch {
	case !complete:
		out.Body = &prefixedBody{head: head, rest: body} // ContentLength as declared, or -1
		if len(out.Trailer) > 0 {
			dropTrailers(out.Trailer, trailerNamed) // the declared names the forward announces
			out.Body = &trailerFilter{ReadCloser: out.Body, trailer: out.Trailer, named: trailerNamed}
		}
	case len(r.Trailer) > 0:
		// Declared trailers travel only in a chunked body: keep it chunked,
		// its last chunk alone when it has no byte (a nil Body of unknown
		// length is no request to net/http's transport: the client got a
		// 502). The body was read to its end: the trailers are all in.
		// Chunked said outright: an HTTP/2 request has no
		// Transfer-Encoding to copy, and net/http's writer sends a body
		// of unknown length of a GET, DELETE or OPTIONS only when a probe
		// reads a byte of it; the trailers of an empty one were lost.
		dropTrailers(out.Trailer, trailerNamed)
		setBody(out, head)
		out.ContentLength, out.TransferEncoding = -1, []string{"chunked"}
	default:
		setReplayableBody(out, head)
		out.TransferEncoding = nil
	}
	h.forward(w, out, body, early)
}

// forward sends out through the client and copies the answer to w. body,
// when not nil, is the client's body out carries: when it failed, its
// failure, the client's, is the answer, whatever the client's error says.
// early, when not nil, passes 103 answers on until the final answer.
func (h *routeHandler) forward(w http.ResponseWriter, out *http.Request, body *clientBody, early *hints) {
	resp, err := h.client.Do(out)
	early.close()
	if err != nil {
		if body != nil {
			if be := body.failure(out.Context(), err); be != nil {
				err = be
			}
		}
		if h.route.Stream != nil {
			err = streamFailure(out.Context(), err)
		}
		h.fail(out.Context(), w, err)
		return
	}
	defer resp.Body.Close()
	if h.route.Stream != nil {
		if watch := watchOf(out.Context()); watch != nil && resp.Body != http.NoBody {
			resp.Body = &idleBody{ReadCloser: resp.Body, w: watch}
		}
	}
	h.answer(out.Context(), w, resp)
}

// fail answers a failed forward under ctx with the problem rpc.StatusOf
// chooses.
func (h *routeHandler) fail(ctx context.Context, w http.ResponseWriter, err error) {
	level, msg := slog.LevelWarn, "upstream call failed"
	var be *BodyError
	var full *HeldBodiesError
	switch {
	case errors.As(err, &be):
		level, msg = slog.LevelInfo, "request body failed" // the client's doing
	case errors.As(err, &full):
		msg = "request refused: the held bodies take the whole budget"
	case errors.Is(err, context.Canceled) && ctx.Err() != nil:
		level = slog.LevelInfo // the client left; not a fault of ours or the backend's
	}
	attrs := []slog.Attr{slog.String("route", h.route.DisplayName()), slog.String("service", h.route.Service),
		slog.String("error", err.Error())}
	if be != nil && be.Err != nil {
		attrs = append(attrs, slog.String("cause", be.Err.Error()))
	}
	h.logFailure(ctx, level, msg, attrs...)
	rpc.WriteError(w, err)
}

// setReplayableBody makes body the body of out, which a retry can send
// again, with its length.
func setReplayableBody(out *http.Request, body []byte) {
	out.ContentLength = int64(len(body))
	if len(body) == 0 {
		out.Body, out.GetBody = nil, nil
		return
	}
	setBody(out, body)
}

// setBody gives out body as a body it can replay, whatever its length.
func setBody(out *http.Request, body []byte) {
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
}
