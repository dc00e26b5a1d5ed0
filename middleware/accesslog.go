package middleware

import (
	"context"
	"log/slog"
	"net/http"
	"time"
)

// AccessLog returns middleware that logs one structured line per request,
// at the end of it: method, path, status, duration, bytes, remote address.
// A request whose client went away before the answer is logged with status
// 499. A request whose handler aborted its answer (a panic, such as
// http.ErrAbortHandler, that the server turns into a cut connection) is
// logged too, marked aborted, and the panic goes on. A nil logger logs
// nothing but still installs the Recorder, which the router reads the
// arrival time from. now may be nil for time.Now.
func AccessLog(logger *slog.Logger, now func() time.Time) func(http.Handler) http.Handler {
	if now == nil {
		now = time.Now
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := NewRecorder(w, now())
			returned := false
			defer func() {
				// Runs while a panic unwinds, without recovering it: the
				// server still sees it and cuts the connection.
				if !returned {
					logRequest(logger, now, rec, r, true)
				}
			}()
			next.ServeHTTP(rec, r)
			returned = true
			logRequest(logger, now, rec, r, false)
		})
	}
}

func logRequest(logger *slog.Logger, now func() time.Time, rec *Recorder, r *http.Request, aborted bool) {
	if logger == nil || !logger.Enabled(r.Context(), slog.LevelInfo) {
		return
	}
	status := rec.status
	if r.Context().Err() == context.Canceled {
		status = 499
	}
	attrs := []slog.Attr{
		slog.String("method", r.Method),
		slog.String("path", r.URL.Path),
		slog.Int("status", status),
		slog.Duration("duration", now().Sub(rec.start)),
		slog.Int64("bytes", rec.bytes),
		slog.String("remote", r.RemoteAddr),
	}
	if aborted {
		attrs = append(attrs, slog.Bool("aborted", true))
	}
	logger.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
}
