// Package budget carries a request's timeout budget from the edge through every
// hop of a chain of services.
//
// The gateway originates a budget when a request arrives (Policy.Grant), and every
// outgoing attempt carries what is left of it in the Sluice-Budget header,
// recomputed at the moment of sending (Outgoing). A backend turns the header back
// into its request context's deadline with Inbound, so that the caller's deadline
// and cancellation reach every piece of work, and FromContext tells a handler the
// budget it received, its hop number and the retries already spent on its path.
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
// The package depends on nothing else in Sluice.
package budget
