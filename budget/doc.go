// Package budget carries a request's timeout budget from the edge through every
// hop of a chain of services.
//
// The gateway originates a budget when a request arrives (Policy.Grant), and every
// outgoing attempt carries what is left of it in the Sluice-Budget header,
// recomputed at the moment of sending (Outgoing). A backend turns the header back
// into its request context's deadline with Inbound, so that the caller's deadline
// and cancellation reach every piece of work, and FromContext tells a handler the
// budget it received, its hop number, the retries already spent on its path
// and the caller (the gateway's client) the work is done for.
//
// The wire format is an RFC 8941 dictionary of relative time, never an absolute
// timestamp, since clocks skew between hosts:
//
//	Sluice-Budget: ms=1473, hop=2, retry=1
//
// docs/budget.md specifies it. The package also reads and writes gRPC's
// grpc-timeout header. Parsing is strict, bounded in length and value, allocates
// nothing and never panics.
//
// # The context
//
// NewContext's context ends at the budget's deadline, or when its parent
// ends. It is a lean one (internal/leanctx), held inline in the context
// that carries the Info: it arms no timer for the deadline until something
// waits on Done (a select, a child of package context's,
// context.AfterFunc), since the transport that carries the request
// (upstream/h1) cuts the round trip at that deadline itself; Err reports
// context.DeadlineExceeded from the deadline on either way. Under a parent
// of package context's (a backend's net/http request context) it follows
// the parent only once something waits on it or registers with it, and Err
// asks the parent meanwhile; under the gateway's lean request context, its
// parent ends it directly. The budget's semantics do not change with it:
// once the deadline passes no more work starts and no retry is made.
//
// # Overload
//
// Inbound also sheds a backend's own overload: while the process is short
// of CPU for the requests it has in flight (its scheduling lag over
// ServerPolicy.ShedLag), it refuses new ones at once with 503 overloaded,
// not processed, rather than let every request in flight run out of budget
// together (overload.go).
//
// Within Sluice the package depends on requestid, internal/problem,
// internal/leanctx and internal/schedlag only.
package budget
