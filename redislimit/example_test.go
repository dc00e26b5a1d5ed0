package redislimit_test

import (
	"context"
	"log"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/middleware"
	"github.com/sluicehq/sluice/redislimit"
)

// A limit of 100 requests a second per API key, shared by every replica
// through one Redis; without Redis, each replica admits its share, the
// limit divided by the replicas counted through Redis.
func Example() {
	store, err := redislimit.New(redislimit.Options{Addr: "127.0.0.1:6379"}) // 5 ms per decision
	if err != nil {
		log.Fatal(err)
	}
	defer store.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	if err := store.Warm(ctx); err != nil {
		log.Print("redis not reachable yet; decisions fall back: ", err)
	}
	cancel()

	key, _ := middleware.ParseRateLimitKey("header:X-Api-Key", nil)
	store.CountReplicas("gateway-1") // unique per replica: a host name, a pod name
	share, _ := middleware.NewLocalShare(middleware.RateLimitSettings{RPS: 100, Burst: 100}, store.Replicas)
	limit := middleware.GlobalRateLimit(store, middleware.GlobalRateLimitPolicy{
		Name: "api", Scope: "api GET /v1", Key: key, RPS: 100, Burst: 100,
		Fallback: middleware.FailOpen, Local: share,
	})
	http.Handle("/v1/", limit(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok"))
	})))
}
