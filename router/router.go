package router

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/sluicehq/sluice/budget"
	"github.com/sluicehq/sluice/internal/logsample"
	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/tracing"
)

// Doer sends a request to the service its URL's host names. *upstream.Client
// is the Doer the gateway uses. The router owns the response a Doer returns,
// as httputil.ReverseProxy does: it removes hop-by-hop fields from its
// header in place, and may answer with that very map (package server's
// writer adopts it), so a Doer must return a response of its own each time,
// never one it shares.
type Doer interface {
	Do(*http.Request) (*http.Response, error)
}

// Arrival is implemented by response writers that know when their request
// started to arrive. The gateway's outermost middleware provides it, so that
// a budget is charged from the first moment the gateway saw the request, not
// from when routing ended.
type Arrival interface {
	Arrival() time.Time
}

// Annotator is implemented by response writers that record, for the
// access log and the metrics, which route served a request and the budget
// it was granted; the gateway's middleware.Recorder does. The router notes
// the route before the route's edge policies run, so that a request they
// refuse counts under its route too.
type Annotator interface {
	NoteRoute(name, service string)
	NoteBudget(granted time.Duration, deadline time.Time)
}

// noteRoute tells an Annotator that r serves the request, then serves it.
func noteRoute(r *Route, next http.Handler) http.Handler {
	name, service := r.DisplayName(), r.Service
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if a, ok := w.(Annotator); ok {
			a.NoteRoute(name, service)
		}
		next.ServeHTTP(w, req)
	})
}

// writerAs finds w as a T (Arrival, Annotator), or a writer w wraps that
// is one: a route's middleware may wrap the writer, as compression does,
// and then provides Unwrap as http.ResponseController expects.
//
// as is the type assertion, written out where T is named (asArrival): in
// a generic function, w.(T) looks the interface's method table up in the
// runtime's global table on every call, where an assertion to a named
// interface keeps a cache of its own (about 0.2 µs a request for three
// assertions, in the profiles of bench/README.md's fifth round).
func writerAs[T any](w http.ResponseWriter, as func(http.ResponseWriter) (T, bool)) (T, bool) {
	for range 16 {
		if a, ok := as(w); ok {
			return a, true
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			break
		}
		w = u.Unwrap()
	}
	var none T
	return none, false
}

func asArrival(w http.ResponseWriter) (Arrival, bool)     { a, ok := w.(Arrival); return a, ok }
func asAnnotator(w http.ResponseWriter) (Annotator, bool) { a, ok := w.(Annotator); return a, ok }
func asWriteIdler(w http.ResponseWriter) (writeIdler, bool) {
	a, ok := w.(writeIdler)
	return a, ok
}

// Options tune a Router. The zero value is usable.
type Options struct {
	// Logger receives one line per failure the router answers; nil discards.
	Logger *slog.Logger
	// MaxBodyBytes bounds the bodies of RPC routes, which the gateway reads to
	// merge parameters into: a larger one is answered 413. Zero means 1 MiB.
	// HTTP routes stream what they do not hold (see MaxReplayBody).
	MaxBodyBytes int64
	// BodyIdleTimeout bounds each read of a request body: a client that
	// sends no byte of it for this long is answered 408. The request's
	// budget bounds every read too. Zero means DefaultBodyIdleTimeout.
	BodyIdleTimeout time.Duration
	// WriteIdleTimeout bounds each write of an answer's body to the client:
	// a write that takes longer aborts the answer. Zero means
	// DefaultWriteIdleTimeout.
	WriteIdleTimeout time.Duration
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
	// MarkIdempotent returns a context that tells the Doer a request of a
	// route marked Idempotent may be retried after it was sent, whatever
	// its method; the gateway sets upstream.WithIdempotent. Nil leaves the
	// context as it is: the Doer then decides by method alone.
	MarkIdempotent func(context.Context) context.Context
	// MarkStream returns a context that tells the Doer a request is a
	// stream, whose attempt must not be cut by a per-try timeout or hedged;
	// the gateway sets upstream.WithStream. Nil leaves the context as it is.
	MarkStream func(context.Context) context.Context
	// UpgradeIdleTimeout ends a connection switched to another protocol
	// (a WebSocket) when no byte went either way for this long; zero means
	// DefaultUpgradeIdleTimeout. The request's budget bounds only the
	// handshake.
	UpgradeIdleTimeout time.Duration
	// UpgradeMaxLifetime ends a switched connection this long after the
	// switch, however busy; zero means DefaultUpgradeMaxLifetime.
	UpgradeMaxLifetime time.Duration
	// Tunnels, when not nil, tracks the switched connections, so that
	// shutdown can end them (Tunnels.CloseAll), and bounds how many are
	// open at once (Tunnels.SetMax).
	Tunnels *Tunnels
	// OnBudgetSpent, when not nil, is told of each request refused 504
	// budget-spent because its budget ran below the route's minimum before
	// it could be forwarded (hop 0 ran out), with the route's service: the
	// gateway counts it in sluice_budget_exhausted_total. It must not block.
	OnBudgetSpent func(r *http.Request, service string)
	// Reserved lists paths that the gateway answers itself, before any
	// route (/healthz, /readyz): a request whose path a backend could read
	// as one of them is refused rather than forwarded.
	Reserved []string
	// HeldBodies bounds the request bodies held for a retry, together
	// (heldbodies.go); nil means a budget of DefaultHeldBodyBytes of this
	// router's own. The gateway passes one it keeps across reloads.
	HeldBodies *BodyBudget
	// Caller, when not nil, returns who a request is made for: the
	// client's address as the gateway tells clients apart. The budget
	// names it (budget.Info.Caller), the upstream client's breakers and
	// limits tell callers apart by it, and every hop sends it on in
	// Sluice-Budget. Nil names none.
	Caller func(*http.Request) netip.Addr
	// Tracer, when not nil, makes each request a route a server span named
	// by the route, with the budget granted (tracing.Tracer.Route); the
	// Doer then makes the attempts' spans. Nil, the default, traces nothing.
	Tracer *tracing.Tracer
}

// Router serves a fixed set of routes. It is immutable and safe for
// concurrent use; a configuration reload builds a new one.
type Router struct {
	mux    *chi.Mux
	routes []Route
	// uses tells, by "METHOD pattern" as chi registered it, what the
	// route does with the client's path.
	uses     map[string]pathUse
	reserved []string
	// handlers holds what each route registered with mux, for dispatch
	// (dispatch.go).
	handlers map[string][]methodHandler // by pattern
	// bodyIdle is Options.BodyIdleTimeout, which bounds the drain of a
	// body the answer left unread (boundDrain).
	bodyIdle time.Duration
	// hosts, when some route names hosts, holds a router for each, and
	// this one only routes to them (hosts.go).
	hosts *byHost
}

// New checks routes and returns a router that forwards through client. It
// returns a *FieldError naming the first bad route, or the later of two
// routes that conflict.
func New(routes []Route, client Doer, opts Options) (*Router, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.MaxBodyBytes <= 0 {
		opts.MaxBodyBytes = 1 << 20
	}
	if opts.HeldBodies == nil {
		opts.HeldBodies = NewBodyBudget(0)
	}
	realClock := opts.Now == nil
	if realClock {
		opts.Now = time.Now
	}
	if opts.BodyIdleTimeout <= 0 {
		opts.BodyIdleTimeout = DefaultBodyIdleTimeout
	}
	if opts.WriteIdleTimeout <= 0 {
		opts.WriteIdleTimeout = DefaultWriteIdleTimeout
	}
	for i := range routes {
		if len(routes[i].Hosts) > 0 {
			return newByHost(routes, client, opts, realClock)
		}
	}
	return newRouter(routes, nil, client, opts, realClock)
}

// newRouter builds the router of routes, whose errors name each route's
// place among every route: at[i] for routes[i] (nil: i).
func newRouter(routes []Route, places []int, client Doer, opts Options, realClock bool) (rt *Router, err error) {
	at := func(i int) int { return i }
	if places != nil {
		at = func(i int) int { return places[i] }
	}
	seen := make(map[string]int)
	for i := range routes {
		r := &routes[i]
		if err := r.validate(at(i)); err != nil {
			return nil, err
		}
		s := shape(r.Path)
		for _, key := range conflictKeys(r.Method, s) {
			if j, dup := seen[key]; dup {
				return nil, &FieldError{Route: at(i), Field: "path", Err: fmt.Errorf(
					"conflicts with route %d (%s): both match %s %s", at(j), routes[j].DisplayName(), r.Method, r.Path)}
			}
		}
		seen[r.Method+" "+s] = i
	}

	mux := chi.NewMux()
	mux.NotFound(func(w http.ResponseWriter, r *http.Request) {
		problem.Write(w, http.StatusNotFound, problem.TypeNotFound, "No route", "no route matches "+r.Method+" "+r.URL.Path)
	})
	mux.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allowed(mux, r))
		problem.Write(w, http.StatusMethodNotAllowed, problem.TypeMethod, "Method not allowed",
			"no route matches "+r.Method+" "+r.URL.Path)
	})
	// chi panics on patterns it cannot hold; turn that into a load error.
	current := -1
	defer func() {
		if p := recover(); p != nil {
			if current >= 0 {
				current = at(current)
			}
			rt, err = nil, &FieldError{Route: current, Field: "path", Err: fmt.Errorf("%v", p)}
		}
	}()
	logs := logsample.New(LogLinesPerSecond, time.Second, nil)
	uses := make(map[string]pathUse, len(routes))
	rt = &Router{mux: mux, routes: routes, uses: uses, reserved: opts.Reserved, bodyIdle: opts.BodyIdleTimeout,
		handlers: make(map[string][]methodHandler, len(routes))}
	pre := preflightsByShape(routes)
	for i := range routes {
		current = i
		r := routes[i]
		var h http.Handler = &routeHandler{route: r, client: client, opts: opts, realClock: realClock, logs: logs}
		for j := len(r.Middleware) - 1; j >= 0; j-- {
			h = r.Middleware[j](h)
		}
		if r.Method == "*" || r.Method == http.MethodOptions {
			h = maxForwards(mux, h) // before the route's policies, as a 405 is: maxforwards.go
		}
		h = noteRoute(&r, h)
		if opts.Tracer != nil {
			h = opts.Tracer.Route(r.DisplayName(), r.Service, h)
		}
		// On a path where some route answers preflights, the route that
		// also answers OPTIONS sees only the OPTIONS requests that are not.
		if p := pre[shape(r.Path)]; p != nil && (r.Method == "*" || r.Method == http.MethodOptions) {
			h = p.wrap(h)
		}
		rt.handle(r.Method, r.Path, h)
		uses[r.Method+" "+r.Path] = useOf(&r)
		// HEAD is allowed wherever GET is (RFC 9110, section 9.3.2): a GET
		// route answers it too, unless a HEAD route of the same shape does.
		if _, own := seen[http.MethodHead+" "+shape(r.Path)]; r.Method == http.MethodGet && !own {
			rt.handle(http.MethodHead, r.Path, h)
			uses[http.MethodHead+" "+r.Path] = useOf(&r)
		}
	}
	for s, p := range pre {
		if _, own := seen[http.MethodOptions+" "+s]; !own && p.any == nil {
			current = -1
			rt.handle(http.MethodOptions, p.pattern, p.wrap(mux.MethodNotAllowedHandler()))
		}
	}
	return rt, nil
}

// allowed lists the methods that some route answers on r's path, for the
// Allow field a 405 answer must carry (RFC 9110, section 15.5.6): chi sets it
// only in its own 405 handler, not for a custom one.
func allowed(mux *chi.Mux, r *http.Request) string {
	path := r.URL.RawPath // the path chi matched, as in chi's own routing
	if path == "" {
		path = r.URL.Path
	}
	var ms []string
	for _, m := range anyMethods {
		if mux.Match(chi.NewRouteContext(), m, path) {
			ms = append(ms, m)
		}
	}
	return strings.Join(ms, ", ")
}

// conflictKeys lists the keys under which a route of method and shape s
// would collide with one declared before: the same method, or any method
// against "*".
func conflictKeys(method, s string) []string {
	if method == "*" {
		keys := make([]string, 0, len(methods))
		for m := range methods {
			keys = append(keys, m+" "+s)
		}
		sort.Strings(keys)
		return keys
	}
	return []string{method + " " + s, "* " + s}
}

// ServeHTTP implements http.Handler. A path that a backend could read as
// another one than the router matches is refused with 400 before any route
// sees it (see path.go), and so is an HTTP/2 request whose target, Host or
// length no HTTP/1.1 request could carry (see h2request.go). A route that
// forwards r makes r's header the forwarded request's, in place
// (outboundHeader), so that a request must not be served twice: a caller
// that would (a test, a retrying layer of its own) passes a copy with its
// own header (Request.Clone).
func (rt *Router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if rt.hosts != nil {
		rt.hosts.pick(r.Host).ServeHTTP(w, r)
		return
	}
	if r.ContentLength != 0 { // a body, of a known length or not
		rt.boundDrain(w)
	}
	if why := rt.checkPath(r); why != "" {
		refusePath(w, why)
		return
	}
	if r.ProtoMajor == 2 {
		if why := checkH2Request(r); why != "" {
			refuseH2Request(w, why)
			return
		}
	}
	rt.dispatch(w, r)
}

// boundDrain bounds, by the body idle timeout from now, what the listener's
// server reads of r's body if no route reads it. An answer that does not
// read the body (a 404, a 401, a refused path) leaves it to the server,
// which reads it, up to 256 KiB, so that the connection can serve another
// request, before it writes the answer, as net/http's does. With no
// deadline, a client that declared a body and never sent it held its
// connection, and its answer, for as long as it liked; now it gets the
// answer, with the connection closed, after the body idle timeout. A route
// that reads the body replaces this deadline with its own (clientBody: one
// per read, one in the past after a failed read, none at the end), and
// bounds what it leaves to the server as it detaches. A handshake with a
// body is refused (serveUpgrade): no connection this is set on becomes a
// tunnel.
func (rt *Router) boundDrain(w http.ResponseWriter) {
	// The socket's clock, not Options.Now.
	http.NewResponseController(w).SetReadDeadline(time.Now().Add(rt.bodyIdle))
}

// Routes returns the router's routes, in declaration order.
func (rt *Router) Routes() []Route { return rt.routes }

// routeHandler serves one route: it originates the budget, then forwards.
type routeHandler struct {
	route  Route
	client Doer
	opts   Options
	// realClock: opts.Now is time.Now, whose reading the budget's lean
	// context can take as its own (budget.NewScopeAt).
	realClock bool
	// logs samples the lines logged per failed request; nil logs them all.
	logs *logsample.Sampler
}

// LogLinesPerSecond is how many lines a second the router logs of each
// route's failures of one kind, a message at a level ("upstream call
// failed" at warn, "answer cut short; aborting the connection", ...); the first line logged after some were
// dropped says how many in its "suppressed" attribute. The metrics count
// every failure. See package internal/logsample.
const LogLinesPerSecond = 5

// logFailure logs a line of a request's failure at level, unless lines of
// its kind (route, message and level) are being dropped
// (LogLinesPerSecond). A level the logger leaves out counts for nothing:
// the clients that left (info) do not use up the budget of the failures
// (warn).
func (h *routeHandler) logFailure(ctx context.Context, level slog.Level, msg string, attrs ...slog.Attr) {
	if !h.opts.Logger.Enabled(ctx, level) {
		return
	}
	if h.logs != nil {
		ok, dropped := h.logs.Allow(h.route.DisplayName() + "\x00" + msg + "\x00" + level.String())
		if !ok {
			return
		}
		if dropped > 0 {
			attrs = append(attrs, slog.Int("suppressed", dropped))
		}
	}
	h.opts.Logger.LogAttrs(ctx, level, msg, attrs...)
}

func (h *routeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.serveLocal(w, r) {
		return
	}
	var start time.Time
	if a, ok := writerAs(w, asArrival); ok {
		start = a.Arrival()
	} else {
		start = h.opts.Now()
	}
	if h.route.Stream != nil {
		h.serveStream(w, r, start)
		return
	}
	grant, hop, err := h.route.Budget.OriginateHop(r.Header, false)
	if err != nil {
		if err == budget.ErrLoop {
			problem.Write(w, http.StatusLoopDetected, problem.TypeLoop, "Loop detected",
				fmt.Sprintf("the request has passed %d hops: it came back to the gateway through its own nodes", hop))
			return
		}
		if err == budget.ErrBelowMinimum {
			problem.Write(w, http.StatusGatewayTimeout, problem.TypeBudgetTooLow, "Budget below the minimum",
				fmt.Sprintf("the requested budget is below this route's minimum of %v; no work was done", h.route.Budget.MinOrDefault()))
			return
		}
		problem.Write(w, http.StatusBadRequest, problem.TypeBadRequest, "Malformed budget", err.Error())
		return
	}
	// The hop a request names is continued, not started afresh: one that
	// comes back through the gateway's own nodes counts its passes, and
	// ends at budget.MaxChain (a client that names one only places itself
	// further down a chain).
	info := budget.Info{Deadline: start.Add(grant), Received: grant, Hop: hop}
	if h.opts.Caller != nil {
		info.Caller = h.opts.Caller(r)
	}
	now := h.opts.Now()
	if info.Remaining(now) < h.route.Budget.MinOrDefault() {
		if h.opts.OnBudgetSpent != nil {
			h.opts.OnBudgetSpent(r, h.route.Service)
		}
		problem.Write(w, http.StatusGatewayTimeout, problem.TypeBudgetSpent, "Budget spent",
			"the budget ran below this route's minimum before the request could be forwarded")
		return
	}
	if a, ok := writerAs(w, asAnnotator); ok {
		a.NoteBudget(grant, info.Deadline)
	}
	if !h.realClock {
		now = time.Time{} // not time.Now's: the context reads its own
	}
	scope := budget.NewScopeAt(r.Context(), info, now)
	defer scope.Cancel()
	var ctx context.Context = scope
	if h.opts.Tracer != nil {
		tracing.Budget(ctx, info)
	}
	if h.route.Idempotent && h.opts.MarkIdempotent != nil {
		ctx = h.opts.MarkIdempotent(ctx)
	}
	if h.route.Endpoint != "" {
		h.serveRPC(ctx, w, r)
		return
	}
	if !h.rewriteHolds(w, r) {
		return
	}
	h.serveHTTP(ctx, w, r)
}

// rewriteHolds checks r's path again after rewriting, and answers 400 when
// it leads outside the rewrite's target: a rewrite never does.
func (h *routeHandler) rewriteHolds(w http.ResponseWriter, r *http.Request) bool {
	if h.route.Rewrite != "" {
		if path, _ := h.upstreamPath(r); !h.withinRewrite(path) {
			refusePath(w, "the rewritten path leaves the route's rewrite target")
			return false
		}
	}
	return true
}

// upstreamPath returns the path an HTTP route forwards r to and, when the
// client's escaping of it differs from the default (an escaped slash, say),
// that escaped form, as url.URL's Path and RawPath.
func (h *routeHandler) upstreamPath(r *http.Request) (path, rawPath string) {
	if h.route.Rewrite == "" {
		return r.URL.Path, r.URL.RawPath
	}
	// chi matches the escaped path when RawPath is set, else the decoded one,
	// and its catch-all value is taken from the path it matched.
	rest := strings.TrimPrefix(chi.URLParam(r, "*"), "/")
	if r.URL.RawPath == "" {
		return joinRest(h.route.Rewrite, rest), ""
	}
	raw := joinRest((&url.URL{Path: h.route.Rewrite}).EscapedPath(), rest)
	decoded, err := url.PathUnescape(raw)
	if err != nil {
		return joinRest(h.route.Rewrite, rest), ""
	}
	return decoded, raw
}
