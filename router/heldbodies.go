package router

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/internal/membudget"
	"github.com/sluicehq/sluice/internal/problem"
)

// The bodies held for a retry share one budget.
//
// A body is read before a node is picked (body.go), and held whole when it
// ends within MaxReplayBody, or, on an RPC route, within MaxBodyBytes. Each
// connection may hold one, so the connection bound is no bound of that
// memory: clients that each send 60 KiB of a body and stop hold 60 KiB a
// connection until their budget or the body idle timeout ends, and 1 MiB
// each on an RPC route. So what a held body takes beyond its first 4 KiB
// (firstBodyChunk, less than a connection's own buffers) comes from one
// BodyBudget, which the gateway keeps across reloads. A body that finds no
// room left is handled as a larger body is: an HTTP route streams it after
// what it holds, so the request goes on without the chance of a retry
// after it was sent; an RPC route, which must hold the whole body to merge
// the parameters into it, answers 503 (HeldBodiesError). The clients that
// send large bodies pay for a flood of them, not those whose bodies are
// small.

// DefaultHeldBodyBytes is the size of a BodyBudget made with a size of zero:
// 128 MiB, two thousand bodies of 64 KiB or 128 of an RPC route's 1 MiB.
const DefaultHeldBodyBytes = 128 << 20

// BodyBudget bounds the bytes of request bodies the routers hold at once,
// beyond each body's first 4 KiB. It is safe for concurrent use; share one
// between the routers that successive configurations build, so that the
// bound holds across a reload.
type BodyBudget struct {
	b       *membudget.Budget
	refused atomic.Uint64
}

// NewBodyBudget returns a budget of max bytes; zero or less means
// DefaultHeldBodyBytes.
func NewBodyBudget(max int64) *BodyBudget {
	return &BodyBudget{b: membudget.New(heldBodyBytes(max))}
}

func heldBodyBytes(max int64) int64 {
	if max <= 0 {
		return DefaultHeldBodyBytes
	}
	return max
}

// SetMax changes the budget's size (zero or less: DefaultHeldBodyBytes).
// Bodies already held keep their room.
func (b *BodyBudget) SetMax(max int64) { b.b.SetMax(heldBodyBytes(max)) }

// Max returns the budget's size in bytes.
func (b *BodyBudget) Max() int64 { return b.b.Max() }

// Held returns the bytes the bodies held take from the budget now.
func (b *BodyBudget) Held() int64 { return b.b.Held() }

// Refused returns how many bodies found no room: streamed on an HTTP route,
// answered 503 on an RPC route.
func (b *BodyBudget) Refused() uint64 { return b.refused.Load() }

// HeldBodiesError reports an RPC route's request refused because the
// bodies held had taken the whole BodyBudget. Nothing was sent: no node and
// no client is at fault, so it is counted by no breaker and no retry
// budget. It maps to 503 overloaded with Retry-After and Sluice-Retry: no,
// as a concurrency limit's refusal does.
type HeldBodiesError struct {
	// Max is the budget's size in bytes.
	Max int64
}

// Error implements error.
func (e *HeldBodiesError) Error() string {
	return "request body: the bodies held take the whole budget of held bodies"
}

// Problem implements rpc.Problemer.
func (e *HeldBodiesError) Problem() (status int, typ, title string) {
	return http.StatusServiceUnavailable, problem.TypeOverloaded, "Gateway overloaded"
}

// RetryAdvice implements rpc.RetryAdvisor: a hop above retrying at once
// would only add to the load.
func (e *HeldBodiesError) RetryAdvice() string { return "no" }

// RetryAfter implements rpc.RetryAfterer.
func (e *HeldBodiesError) RetryAfter() time.Duration { return time.Second }

// reserve makes the room of a held body of capacity size, beyond its first
// firstBodyChunk bytes, come from the budget, and reports false, counting a
// refusal, when there is none.
func (b *clientBody) reserve(size int) bool {
	want := int64(size - firstBodyChunk)
	if b.bodies == nil || want <= b.reserved {
		return true
	}
	if !b.bodies.b.Take(want - b.reserved) {
		b.bodies.refused.Add(1)
		return false
	}
	b.reserved = want
	return true
}

// release gives the held body's room back.
func (b *clientBody) release() {
	if b.reserved > 0 {
		b.bodies.b.Give(b.reserved)
		b.reserved = 0
	}
}
