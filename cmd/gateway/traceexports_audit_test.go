package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/tracing"
)

// A trace receiver that refuses the spans is told in the gateway's own
// log, once for a run of failures rather than once per batch, and in
// sluice_trace_export_spans_total; when it takes them again, a line says
// so. Without the observer the failures went to OpenTelemetry's global
// error handler: one unstructured line per batch on standard error,
// outside the gateway's JSON log, and no metric.
func TestTraceExportFailuresAreLoggedOnceAndCounted(t *testing.T) {
	t.Setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "1") // one export per span
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "3600000")  // and none by the timer
	var healthy atomic.Bool
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			http.Error(w, "no", http.StatusBadRequest) // not retried: fails at once
			return
		}
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer receiver.Close()
	cfg := &config.Config{Tracing: config.Tracing{Enabled: true, Endpoint: receiver.Listener.Addr().String()}}
	logger, logs := newLogger()
	reg := prometheus.NewRegistry()
	tracer, stop, err := newTracing(cfg, logger, reg)
	if err != nil {
		t.Fatal(err)
	}
	route := tracer.Route("r", "svc", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	serve := func() { route.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil)) }

	const failing = 20
	for range failing {
		serve()
	}
	spans := func(result string) float64 {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() != "sluice_trace_export_spans_total" {
				continue
			}
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
		return 0
	}
	deadline := time.Now().Add(waitLimit)
	for spans("failed") < failing { // the exports are the batcher's, in the background
		if time.Now().After(deadline) {
			t.Fatalf("sluice_trace_export_spans_total{result=failed} = %v, want %d; log:\n%s", spans("failed"), failing, logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	warned, _ := logs.find("trace export failed; its spans are dropped, requests are not affected")
	if len(warned) != 1 {
		t.Errorf("%d failed exports logged %d lines, want 1; log:\n%s", failing, len(warned), logs)
	}

	healthy.Store(true)
	serve()
	if err := stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := spans("exported"); n != 1 {
		t.Errorf("sluice_trace_export_spans_total{result=exported} = %v, want 1", n)
	}
	// Every span ended was queued, and, none dropped here, exported or
	// failed.
	if ended := counter(t, reg, "sluice_trace_spans_ended_total", nil); ended != failing+1 {
		t.Errorf("sluice_trace_spans_ended_total = %v, want the %d spans ended", ended, failing+1)
	}
	logs.waitFor(t, "trace export recovered", 1)
	if n := strings.Count(logs.String(), "trace export failed"); n != 1 {
		t.Errorf("%d lines say the export failed, want 1", n)
	}
}

// When the gateway stops with its trace receiver blackholed (accepting
// connections, never answering), the flush of the last spans gives up
// after traceFlushTimeout, logs that they are lost and lets the stop
// succeed: before, it waited for the exporter's own timeouts (set to ten
// minutes here) or the whole shutdown grace, after the drain, and the
// gateway exited 1 with "draining: context deadline exceeded".
func TestTraceFlushAtStopIsBounded(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "600000")
	t.Setenv("OTEL_BSP_EXPORT_TIMEOUT", "600000")
	t.Setenv("OTEL_BSP_SCHEDULE_DELAY", "3600000")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	defer func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	go func() { // accepts, reads, never answers
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			go io.Copy(io.Discard, c)
		}
	}()
	for _, observed := range []bool{true, false} {
		cfg := &config.Config{Tracing: config.Tracing{Enabled: true, Endpoint: ln.Addr().String()}}
		logger, logs := newLogger()
		var stop func(context.Context) error
		var tracer *tracing.Tracer
		if observed {
			tracer, stop, err = newTracing(cfg, logger, prometheus.NewRegistry())
		} else {
			tracer, stop, err = newTracing(cfg, nil, nil)
		}
		if err != nil {
			t.Fatal(err)
		}
		tracer.Route("r", "svc", http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})).
			ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "/", nil))
		done := make(chan error, 1)
		go func() { done <- stop(context.Background()) }()
		select {
		case err = <-done:
		case <-time.After(30 * time.Second): // a hang guard: the bound is traceFlushTimeout
			t.Fatalf("observed %v: the stop had not returned 30 s after it began, with the receiver blackholed", observed)
		}
		switch {
		case observed && err != nil:
			t.Errorf("observed: the stop failed (%v); a lost flush is logged, not the drain's failure", err)
		case observed:
			logs.waitFor(t, "the last spans could not be flushed to the trace receiver; they are lost", 1)
		case err == nil || !strings.Contains(err.Error(), "the last spans were not flushed"):
			t.Errorf("unobserved: the stop returned %v, want an error saying the last spans were not flushed", err)
		}
	}
}
