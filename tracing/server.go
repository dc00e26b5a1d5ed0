package tracing

import (
	"context"
	"net/http"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluicehq/sluice/budget"
)

// statuser is a response writer that knows the status it wrote, as the
// gateway's middleware.Recorder does.
type statuser interface{ Status() int }

// arrival is a response writer that knows when its request began to arrive
// (router.Arrival).
type arrival interface{ Arrival() time.Time }

type routeKey struct{}

// Route wraps next, the handler of the gateway route named route that calls
// service, so that each request is a server span named route: the child of
// the request's traceparent when it has a valid one (with PublicEndpoint,
// the root of a new trace that links it, and next gets the request without
// the client's trace context fields, W3C's or another format's), starting at
// the request's arrival when w knows it (an Arrival method, as
// router.Arrival). The span ends when next returns, with the status w
// recorded when w has a Status method, as the gateway's middleware.Recorder
// does (5xx marks the span an error). Attempt spans started under it carry
// the route's name. A w with a NoteTrace method is told the id of the span's
// trace, for the access log.
func (t *Tracer) Route(route, service string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, opts := t.incoming(r.Context(), r.Header)
		if t.public {
			r = withoutContext(r)
		}
		ctx = context.WithValue(ctx, routeKey{}, route)
		opts = append(opts,
			trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(AttrRoute.String(route), AttrService.String(service),
				attrMethod.String(r.Method), attrPath.String(r.URL.Path)),
		)
		if a, ok := w.(arrival); ok {
			opts = append(opts, trace.WithTimestamp(a.Arrival()))
		}
		ctx, span := t.tracer.Start(ctx, route, opts...)
		if n, ok := w.(traceNoter); ok {
			if sc := span.SpanContext(); sc.IsValid() {
				n.NoteTrace(sc.TraceID().String())
			}
		}
		if id := r.Header.Get(RequestIDHeader); id != "" {
			span.SetAttributes(AttrRequestID.String(id))
		}
		defer endServer(span, w)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// traceNoter is implemented by response writers that log a request's
// trace id, as the gateway's middleware.Recorder does: Route tells it the
// trace of its span, which with PublicEndpoint is not the one the client's
// traceparent names.
type traceNoter interface{ NoteTrace(id string) }

// Inbound wraps a backend's handler so that each request is a server span,
// the child of the caller's traceparent (an attempt span of the gateway or
// of another backend's upstream.Client); with PublicEndpoint, for a backend
// that public clients reach, the root of a new trace that links it, and the
// handler gets the request without the caller's trace context fields, W3C's
// or another format's. The span carries the budget and hop that the
// request's Sluice-Budget field names. Put it outside budget.Inbound, so
// that requests the budget refuses are traced too. The span's name is the
// RPC endpoint (Service.Method) for a path under /rpc/, else the method:
// paths are not names, to keep names few.
func (t *Tracer) Inbound(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, opts := t.incoming(r.Context(), r.Header)
		if t.public {
			r = withoutContext(r)
		}
		name := r.Method
		if ep, ok := strings.CutPrefix(r.URL.Path, "/rpc/"); ok && ep != "" && !strings.Contains(ep, "/") {
			name = ep
		}
		attrs := []attribute.KeyValue{attrMethod.String(r.Method), attrPath.String(r.URL.Path)}
		if v := r.Header.Values(budget.HeaderName); len(v) > 0 {
			if h, err := budget.ParseFields(v); err == nil {
				attrs = append(attrs, AttrHop.Int(h.Hop), AttrRetries.Int(h.Retries),
					AttrBudgetGranted.Float64(ms(h.Remaining)))
			}
		}
		if id := r.Header.Get(RequestIDHeader); id != "" {
			attrs = append(attrs, AttrRequestID.String(id))
		}
		opts = append(opts, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
		ctx, span := t.tracer.Start(ctx, name, opts...)
		sw := &statusWriter{ResponseWriter: w}
		defer endServer(span, sw)
		next.ServeHTTP(sw, r.WithContext(ctx))
	})
}

// Budget records on ctx's span the budget the gateway granted the request
// (hop 0). The router calls it once the budget is originated.
func Budget(ctx context.Context, info budget.Info) {
	span := trace.SpanFromContext(ctx)
	if !span.IsRecording() {
		return
	}
	span.SetAttributes(AttrHop.Int(info.Hop), AttrBudgetGranted.Float64(ms(info.Received)))
}

func endServer(span trace.Span, w http.ResponseWriter) {
	if s, ok := w.(statuser); ok {
		if code := s.Status(); code != 0 {
			span.SetAttributes(attrStatus.Int(code))
			if code >= 500 {
				span.SetStatus(codes.Error, http.StatusText(code))
			}
		}
	}
	span.End()
}

// statusWriter remembers the status a backend's handler wrote. It passes
// Flush through; a handler that needs more of its writer (Hijack) reaches
// it with http.ResponseController, which follows Unwrap.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Status() int { return w.status }

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
