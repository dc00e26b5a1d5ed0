package middleware

import (
	"context"
	"net/http"
	"sync"
	"unsafe"

	"github.com/go-chi/chi/v5"

	"github.com/sluicehq/sluice/internal/leanctx"
	"github.com/sluicehq/sluice/requestid"
)

// RequestID returns middleware that names every request: it keeps the
// client's X-Request-Id when the request came through a trusted proxy (its
// connection's peer is one of trusted's networks: the load balancer in front
// made or vetted the id) and the id is requestid.Valid; otherwise it makes a
// new one (requestid.New), so that an outside client can neither choose the
// id another request is logged under nor inject text into logs. The id is
// set on the request's header (the router forwards it on every attempt), on
// the answer's header (so every answer, problem bodies included, names it:
// problem.Write reads it from there), and in the request's context
// (requestid.FromContext). Under AccessLog the answer's field is set by the
// Recorder when its header is first asked for or sent (Recorder.Header),
// which every layer below sees as set from the start, and which leaves the
// answer's header unmade until then, for the router to hand over the
// backend's.
//
// It must sit inside AccessLog: the context also gives the layers below the
// request's Recorder (RecorderFromContext), so that the upstream client's
// observer can note each attempt on it. trusted is called per request, so
// that a reload can change it; it may return nil (trust no one).
//
// The context holds a chi routing context too (chi.RouteContext), empty, for
// the router's chi.Mux below to fill in: a Mux that finds one routes with it
// instead of copying the request once more to add its own. It is taken from
// a pool and given back when the handler returns, as chi does with its own,
// so that a handler must not keep it (or URLParam's source) beyond that;
// chi.Context.Clone makes a copy that may outlive the request.
//
// Under package server, whose request context is a leanctx.Ctx, these
// values are added to that context itself (leanctx.Extend), and the
// handlers below get the request they were given, where a wrapping context
// would cost a copy of the request (Request.WithContext) on every request;
// the layers above then see the values too. Under any other server the
// context is wrapped.
func RequestID(trusted func() *TrustedProxies) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec, _ := w.(*Recorder)
			// The Recorder has room for the id's field value and the
			// context, unless another RequestID above took it.
			own := rec != nil && rec.reqCtx.Context == nil
			v := r.Header[requestid.HeaderName]
			if len(v) != 1 || !requestid.Valid(v[0]) || !peerTrusted(trusted, r) {
				// One slice for both headers: a field value of length 1
				// and capacity 1 is never appended to in place.
				if own {
					b := requestid.Append(rec.idText[:0])
					rec.id[0] = unsafe.String(unsafe.SliceData(b), len(b))
					v = rec.id[:]
				} else {
					v = []string{requestid.New()}
				}
				if r.Header == nil {
					r.Header = make(http.Header)
				}
				r.Header[requestid.HeaderName] = v
			}
			id := v[0]
			if own {
				// Set as the Recorder's header is first asked for or sent:
				// until then, the answer may adopt a header map it was
				// handed (router's answer, server's writer).
				rec.idField = v
			} else {
				w.Header()[requestid.HeaderName] = v
			}
			route := routePool.Get().(*chi.Context)
			route.Reset()
			var ctx *requestCtx
			if own {
				ctx = &rec.reqCtx
			} else {
				ctx = new(requestCtx)
			}
			*ctx = requestCtx{Context: r.Context(), id: id, rec: rec, route: route}
			// Under package server, the request's context takes the values
			// itself, and the request is not copied (leanctx.Extend).
			if lc, ok := r.Context().(*leanctx.Ctx); ok && lc.Extend(ctx) {
				next.ServeHTTP(w, r)
			} else {
				next.ServeHTTP(w, r.WithContext(ctx))
			}
			if own {
				rec.stampID() // an answer nobody wrote is sent as the handler returns
			}
			routePool.Put(route)
		})
	}
}

func peerTrusted(trusted func() *TrustedProxies, r *http.Request) bool {
	if trusted == nil {
		return false
	}
	t := trusted()
	if t == nil || len(t.prefixes) == 0 {
		return false
	}
	a, ok := peerAddr(r.RemoteAddr)
	return ok && t.trusts(a.Unmap())
}

// routePool holds the chi routing contexts of requests, as a chi.Mux pools
// its own.
var routePool = sync.Pool{New: func() any { return chi.NewRouteContext() }}

// requestCtx carries the request's id, its Recorder and its chi routing
// context in one allocation. Its Value answers with pointers only (itself as
// the requestid.Carrier), so that no call allocates.
type requestCtx struct {
	context.Context
	id    string
	rec   *Recorder
	route *chi.Context
}

type recorderKey struct{}

func (c *requestCtx) Value(key any) any {
	if v, ok := c.LookupValue(key); ok {
		return v
	}
	return c.Context.Value(key)
}

// LookupValue answers for the keys c holds: it is the leanctx.Valuer that
// extends the server's request context in place (RequestID).
func (c *requestCtx) LookupValue(key any) (any, bool) {
	if requestid.IsContextKey(key) {
		return c, true
	}
	if _, ok := key.(recorderKey); ok { // not key == recorderKey{}: see requestid.IsContextKey
		return c.rec, true
	}
	if key == chi.RouteCtxKey { // a pointer: compared without a call
		return c.route, true
	}
	return nil, false
}

// RequestID implements requestid.Carrier.
func (c *requestCtx) RequestID() string { return c.id }

// RecorderFromContext returns the Recorder of the request ctx belongs to,
// as RequestID put it there, or nil.
func RecorderFromContext(ctx context.Context) *Recorder {
	rec, _ := ctx.Value(recorderKey{}).(*Recorder)
	return rec
}
