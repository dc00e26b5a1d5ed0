package upstream

import "context"

// A proxied stream (server-sent events, a chunked feed) lives as long as
// its budget, the route's maximum lifetime, allows: a per-try timeout,
// derived from the service's unary latencies, would cut it, and a hedge
// would open a second stream to another node. A call marked WithStream gets
// neither; it is still selected, admitted by the breaker and retried before
// it is sent like any other.

type streamKey struct{}

// WithStream marks the calls made with ctx as streams: their attempts get
// no per-try timeout and are never hedged.
func WithStream(ctx context.Context) context.Context {
	return context.WithValue(ctx, streamKey{}, true)
}

// streaming reports whether ctx was marked WithStream.
func streaming(ctx context.Context) bool {
	marked, _ := ctx.Value(streamKey{}).(bool)
	return marked
}
