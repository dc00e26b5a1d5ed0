package otlp_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice/tracing/otlp"
)

// receiver is an OTLP/HTTP endpoint that records the paths spans were
// posted to.
type receiver struct {
	srv   *httptest.Server
	mu    sync.Mutex
	paths []string
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc.mu.Lock()
		rc.paths = append(rc.paths, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"))
		rc.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func TestProviderExportsWhereTheEndpointSays(t *testing.T) {
	rc := newReceiver(t)
	hostport := rc.srv.Listener.Addr().String()
	for _, tc := range []struct{ endpoint, path string }{
		{hostport, "/v1/traces"},
		{"http://" + hostport, "/v1/traces"},
		{"http://" + hostport + "/", "/v1/traces"},
		{"http://" + hostport + "/otlp/v1/traces", "/otlp/v1/traces"},
	} {
		tp, err := otlp.NewProvider(context.Background(), otlp.Settings{Endpoint: tc.endpoint, SampleRatio: 1, ServiceName: "t"})
		if err != nil {
			t.Fatalf("%s: %v", tc.endpoint, err)
		}
		_, span := tp.Tracer("t").Start(context.Background(), "s")
		span.End()
		if err := tp.Shutdown(context.Background()); err != nil { // flushes
			t.Fatalf("%s: %v", tc.endpoint, err)
		}
		rc.mu.Lock()
		got := rc.paths
		rc.paths = nil
		rc.mu.Unlock()
		want := "POST " + tc.path + " application/x-protobuf"
		if len(got) != 1 || got[0] != want {
			t.Errorf("endpoint %q: the receiver saw %q, want [%s]", tc.endpoint, got, want)
		}
	}
}

func TestSampleRatioZeroSamplesNoNewTrace(t *testing.T) {
	rc := newReceiver(t)
	tp, err := otlp.NewProvider(context.Background(), otlp.Settings{Endpoint: rc.srv.Listener.Addr().String()})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer("t").Start(context.Background(), "s")
	if span.SpanContext().IsSampled() {
		t.Error("a new trace was sampled at ratio 0")
	}
	span.End()
	_ = tp.Shutdown(context.Background())
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		s     otlp.Settings
		field string // "" when valid
	}{
		{otlp.Settings{}, ""},
		{otlp.Settings{Protocol: "grpc", Endpoint: "collector:4317", SampleRatio: 0.5}, ""},
		{otlp.Settings{Endpoint: "https://collector.example/v1/traces"}, ""},
		{otlp.Settings{Protocol: "udp"}, "protocol"},
		{otlp.Settings{SampleRatio: 2}, "sample_ratio"},
		{otlp.Settings{Endpoint: "collector"}, "endpoint"},
		{otlp.Settings{Endpoint: "http://"}, "endpoint"},
	} {
		err := tc.s.Validate()
		switch {
		case tc.field == "" && err != nil:
			t.Errorf("%+v: %v", tc.s, err)
		case tc.field != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.field+": ")):
			t.Errorf("%+v: %v, want an error about %s", tc.s, err, tc.field)
		}
	}
}
