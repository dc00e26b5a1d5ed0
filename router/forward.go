package router

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"

	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/rpc"
)

// serveHTTP forwards r as plain HTTP under ctx, streaming its body.
func (h *routeHandler) serveHTTP(ctx context.Context, w http.ResponseWriter, r *http.Request) {
	out := r.WithContext(ctx) // the one copy of the request a forward makes
	out.RequestURI = ""
	path, rawPath := h.upstreamPath(r)
	out.URL = &url.URL{Scheme: "http", Host: h.route.Service, Path: path, RawPath: rawPath, RawQuery: r.URL.RawQuery}
	out.Host = r.Host
	out.Header = outboundHeader(r)
	switch {
	case r.ContentLength == 0:
		out.Body = nil // nothing to replay: retries stay possible
	case h.replayable(r):
		body := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			if ctx.Err() != nil {
				h.fail(ctx, w, ctx.Err()) // 499, or 504 if the budget ran out reading
				return
			}
			problem.Write(w, http.StatusBadRequest, problem.TypeBadRequest, "Request body cut short", err.Error())
			return
		}
		setReplayableBody(out, body)
	}
	out.Close = false
	h.forward(w, out)
}

// MaxReplayBody is the largest request body of an HTTP route that the
// gateway holds in memory so that a retry can send it again; a larger one,
// or one of unknown length, is streamed, and its request is retried only
// when it provably never left.
const MaxReplayBody = 64 << 10

// replayable reports whether r's body is worth holding for a retry: the
// request may be retried after it was sent (its route is marked idempotent,
// or its method is), and the body is small and of known length.
func (h *routeHandler) replayable(r *http.Request) bool {
	if r.ContentLength < 0 || r.ContentLength > MaxReplayBody {
		return false
	}
	switch r.Method {
	case http.MethodPut, http.MethodDelete:
		return true
	}
	return h.route.Idempotent
}

// forward sends out through the client and copies the answer to w.
func (h *routeHandler) forward(w http.ResponseWriter, out *http.Request) {
	resp, err := h.client.Do(out)
	if err != nil {
		h.fail(out.Context(), w, err)
		return
	}
	defer resp.Body.Close()
	dst := w.Header()
	copyHeader(dst, resp.Header)
	w.WriteHeader(resp.StatusCode)
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	if _, err := io.CopyBuffer(w, resp.Body, *bp); err != nil {
		// The status is out: all that is left is to stop. The access log
		// shows the status; this says why the body is short.
		h.opts.Logger.LogAttrs(out.Context(), slog.LevelWarn, "response body copy failed",
			slog.String("route", h.route.DisplayName()), slog.String("error", err.Error()))
	}
}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// fail answers a failed forward under ctx with the problem rpc.StatusOf
// chooses.
func (h *routeHandler) fail(ctx context.Context, w http.ResponseWriter, err error) {
	level := slog.LevelWarn
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		level = slog.LevelInfo // the client left; not a fault of ours or the backend's
	}
	h.opts.Logger.LogAttrs(ctx, level, "upstream call failed",
		slog.String("route", h.route.DisplayName()), slog.String("service", h.route.Service),
		slog.String("error", err.Error()))
	rpc.WriteError(w, err)
}

// setReplayableBody makes body the body of out, which a retry can send again.
func setReplayableBody(out *http.Request, body []byte) {
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
}
