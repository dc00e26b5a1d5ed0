package budget_test

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/sluicehq/sluice/budget"
)

// A backend wraps its mux in Inbound, so that every handler's context carries
// the deadline its caller sent, and its caller's cancellation.
func ExampleInbound() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /report", func(w http.ResponseWriter, r *http.Request) {
		info, _ := budget.FromContext(r.Context())
		fmt.Printf("received %v at hop %d after %d retries\n", info.Received, info.Hop, info.Retries)
		// Everything that waits obeys r.Context(): queries, calls to
		// other services, back-off.
	})
	handler := budget.Inbound(budget.ServerPolicy{
		Default: 5 * time.Second,  // when no valid Sluice-Budget arrives
		Max:     30 * time.Second, // never more than this
		Min:     10 * time.Millisecond,
		OnBadHeader: func(r *http.Request, err error) {
			log.Printf("%s %s: %v", r.Method, r.URL.Path, err)
		},
	})(mux)

	// In production: http.ListenAndServe(addr, handler).
	r := httptest.NewRequest("GET", "/report", nil)
	r.Header.Set(budget.HeaderName, "ms=1473, hop=2, retry=1")
	handler.ServeHTTP(httptest.NewRecorder(), r)

	r = httptest.NewRequest("GET", "/report", nil)
	r.Header.Set(budget.HeaderName, "ms=5")
	w := httptest.NewRecorder()
	handler.ServeHTTP(w, r)
	fmt.Println(w.Code, w.Header().Get("Content-Type"))
	// Output:
	// received 1.473s at hop 2 after 1 retries
	// 504 application/problem+json
}

// A handler asks its context how much time it has left, and how it got there.
func ExampleFromContext() {
	now := time.Now()
	ctx, cancel := budget.NewContext(context.Background(), budget.Info{
		Deadline: now.Add(800 * time.Millisecond),
		Received: time.Second,
		Hop:      1,
	})
	defer cancel()

	info, ok := budget.FromContext(ctx)
	fmt.Println(ok, info.Received, info.Hop, info.Remaining(now))

	_, ok = budget.FromContext(context.Background())
	fmt.Println(ok)
	// Output:
	// true 1s 1 800ms
	// false
}

func ExampleParse() {
	h, err := budget.Parse("ms=1473, hop=2, retry=1, future=?1")
	fmt.Println(h.Remaining, h.Hop, h.Retries, err)

	_, err = budget.Parse("ms=1.5")
	fmt.Println(err)
	// Output:
	// 1.473s 2 1 <nil>
	// budget: Sluice-Budget member is not a non-negative integer
}

func ExampleHeader_Append() {
	h := budget.Header{Remaining: 1900 * time.Microsecond, Hop: 1}
	var buf [48]byte
	fmt.Printf("%s\n", h.Append(buf[:0])) // rounded down: never more time than there is

	h = budget.Header{Remaining: 2 * time.Second, Hop: 3, Retries: 2}
	fmt.Println(h.String())
	// Output:
	// ms=1, hop=1
	// ms=2000, hop=3, retry=2
}

// A client computes the field for each attempt at the moment it sends it.
func ExampleOutgoing() {
	now := time.Now()
	// The context of a request that arrived at hop 1 with 2s to go.
	ctx, cancel := budget.NewContext(context.Background(), budget.Info{
		Deadline: now.Add(2 * time.Second),
		Received: 2 * time.Second,
		Hop:      1,
	})
	defer cancel()

	const margin, fallback = time.Millisecond, 10 * time.Second
	for attempt := range 2 {
		sent := now.Add(time.Duration(attempt) * 300 * time.Millisecond) // the first attempt took 300ms
		h, err := budget.Outgoing(ctx, sent, margin, fallback, attempt)
		if err != nil {
			fmt.Println(err) // budget.ErrSpent: fail without sending
			return
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", "http://inventory.internal/items", nil)
		req.Header.Set(budget.HeaderName, h.String())
		fmt.Println(req.Header.Get(budget.HeaderName))
	}

	_, err := budget.Outgoing(ctx, now.Add(2*time.Second), margin, fallback, 2)
	fmt.Println(err)
	// Output:
	// ms=1999, hop=2
	// ms=1699, hop=2, retry=1
	// budget: spent
}

// A caller that has just read the clock makes the request's budget as a
// Scope, and ends it when the request is done, as the gateway's router does.
func ExampleNewScopeAt() {
	now := time.Now()
	scope := budget.NewScopeAt(context.Background(), budget.Info{
		Deadline: now.Add(5 * time.Second),
		Received: 5 * time.Second,
	}, now)
	defer scope.Cancel()

	info, _ := budget.FromContext(scope)
	fmt.Println(info.Received, info.Remaining(now), scope.Err())
	// Output:
	// 5s 5s <nil>
}
