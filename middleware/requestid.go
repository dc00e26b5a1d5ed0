package middleware

import (
	"context"
	"net/http"
	"net/netip"

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
// (requestid.FromContext).
//
// It must sit inside AccessLog: the context also gives the layers below the
// request's Recorder (RecorderFromContext), so that the upstream client's
// observer can note each attempt on it. trusted is called per request, so
// that a reload can change it; it may return nil (trust no one).
func RequestID(trusted func() *TrustedProxies) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			v := r.Header[requestid.HeaderName]
			if len(v) != 1 || !requestid.Valid(v[0]) || !peerTrusted(trusted, r) {
				// One slice for both headers: a field value of length 1
				// and capacity 1 is never appended to in place.
				v = []string{requestid.New()}
				if r.Header == nil {
					r.Header = make(http.Header)
				}
				r.Header[requestid.HeaderName] = v
			}
			id := v[0]
			w.Header()[requestid.HeaderName] = v
			rec, _ := w.(*Recorder)
			next.ServeHTTP(w, r.WithContext(&requestCtx{Context: r.Context(), id: id, rec: rec}))
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
	ap, err := netip.ParseAddrPort(r.RemoteAddr)
	return err == nil && t.trusts(ap.Addr().Unmap())
}

// requestCtx carries the request's id and Recorder in one allocation.
type requestCtx struct {
	context.Context
	id  string
	rec *Recorder
}

type recorderKey struct{}

func (c *requestCtx) Value(key any) any {
	switch key {
	case requestid.ContextKey:
		return c.id
	case recorderKey{}:
		return c.rec
	}
	return c.Context.Value(key)
}

// RecorderFromContext returns the Recorder of the request ctx belongs to,
// as RequestID put it there, or nil.
func RecorderFromContext(ctx context.Context) *Recorder {
	rec, _ := ctx.Value(recorderKey{}).(*Recorder)
	return rec
}
