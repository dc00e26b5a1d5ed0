package router

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"sync"

	"github.com/sluicehq/sluice/rpc"
)

// serveHTTP forwards r as plain HTTP, streaming its body.
func (h *routeHandler) serveHTTP(w http.ResponseWriter, r *http.Request) {
	out := r.WithContext(r.Context())
	out.RequestURI = ""
	path, rawPath := h.upstreamPath(r)
	out.URL = &url.URL{Scheme: "http", Host: h.route.Service, Path: path, RawPath: rawPath, RawQuery: r.URL.RawQuery}
	out.Host = r.Host
	out.Header = outboundHeader(r)
	if r.ContentLength == 0 {
		out.Body = nil // nothing to replay: retries stay possible
	}
	out.Close = false
	h.forward(w, r, out)
}

// forward sends out through the client and copies the answer to w.
func (h *routeHandler) forward(w http.ResponseWriter, r, out *http.Request) {
	resp, err := h.client.Do(out)
	if err != nil {
		h.fail(w, r, err)
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
		h.opts.Logger.LogAttrs(r.Context(), slog.LevelWarn, "response body copy failed",
			slog.String("route", h.route.DisplayName()), slog.String("error", err.Error()))
	}
}

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// fail answers a failed forward with the problem rpc.StatusOf chooses.
func (h *routeHandler) fail(w http.ResponseWriter, r *http.Request, err error) {
	level := slog.LevelWarn
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		level = slog.LevelInfo // the client left; not a fault of ours or the backend's
	}
	h.opts.Logger.LogAttrs(r.Context(), level, "upstream call failed",
		slog.String("route", h.route.DisplayName()), slog.String("service", h.route.Service),
		slog.String("error", err.Error()))
	rpc.WriteError(w, err)
}
