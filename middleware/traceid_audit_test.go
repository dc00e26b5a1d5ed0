package middleware_test

import (
	"context"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluicehq/sluice/middleware"
)

// The access log's trace_id of a client's traceparent is the trace a
// backend's OpenTelemetry tracer continues from it, and none when that
// tracer finds the field invalid: hostile spellings (fields past a version
// 00's flags, a parent id of zeros, flags that are not hex) were logged as
// trace ids that named no trace.
func TestTraceIDAgreesWithOpenTelemetry(t *testing.T) {
	const id, span = "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331"
	for _, v := range []string{
		"00-" + id + "-" + span + "-01",
		"00-" + id + "-" + span + "-00",
		"00-" + id + "-" + span + "-03",
		"00-" + id + "-" + span + "-04",       // a flag version 00 does not define
		"00-" + id + "-" + span + "-01-extra", // version 00 has no more fields
		"01-" + id + "-" + span + "-01-extra", // a later version may
		"01-" + id + "-" + span + "-01x",      // but after a '-'
		"fe-" + id + "-" + span + "-ff",       // the last version, every flag
		"ff-" + id + "-" + span + "-01",       // version ff: invalid
		"0g-" + id + "-" + span + "-01",       // not hex
		"00-" + id + "-0000000000000000-01",   // parent id of zeros
		"00-00000000000000000000000000000000-" + span + "-01",
		"00-" + id + "-B7AD6B7169203331-01",  // upper case
		"00-" + id + "-" + span + "-zz",      // flags not hex
		"00-" + id + "-" + span + "-1",       // flags too short
		"00_" + id + "_" + span + "_01",      // not '-'
		"00-" + id[:31] + "-" + span + "-01", // short id
	} {
		h := http.Header{"Traceparent": {v}}
		want := ""
		if sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), propagation.HeaderCarrier(h))); sc.IsValid() {
			want = sc.TraceID().String()
		}
		if got := middleware.TraceID(h); got != want {
			t.Errorf("TraceID(%q) = %q, OpenTelemetry reads %q", v, got, want)
		}
	}
}
