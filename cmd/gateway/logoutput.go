package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/internal/logqueue"
)

// The gateway's log (the access log's line per request included) goes to
// standard output through a queue, so that no request waits for it: a
// pipe whose reader stalled (a container runtime's log driver, a log
// shipper) made every request wait on the log write, and a gateway whose
// standard output nobody read answered 142 requests, then none.

// logQueueBytes bounds the access-log lines that wait for standard output:
// about 3,000. Past it they are dropped and counted in
// sluice_log_lines_dropped_total; the gateway's other lines (a reload, a
// failure), written with the queue's Priority, are dropped only past twice
// it.
const logQueueBytes = 1 << 20

// logWriteDelay is how long the lines wait to go out together: those of
// some 70 requests at 14,000 a second, in one write.
const logWriteDelay = 5 * time.Millisecond

// logFlushTimeout bounds the wait for the last lines when the gateway
// stops: an output that never takes them does not hold the exit.
const logFlushTimeout = 2 * time.Second

// newLogOutput returns the writer the gateway's logger writes to out
// through.
func newLogOutput(out io.Writer) *logqueue.Writer {
	return logqueue.New(out, logQueueBytes, logWriteDelay, droppedNotice)
}

// droppedNotice is the line written out after lines were dropped: a log
// line of its own, as the handler writes them.
func droppedNotice(n uint64) []byte {
	var b bytes.Buffer
	slog.New(slog.NewJSONHandler(&b, nil)).Warn("log lines dropped: the log's output did not take them in time",
		slog.Uint64("dropped", n))
	return b.Bytes()
}

// closeLogOutput writes out the lines that wait, for at most
// logFlushTimeout.
func closeLogOutput(w *logqueue.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), logFlushTimeout)
	defer cancel()
	_ = w.Close(ctx)
}

// registerLogDrops exports how many log lines w dropped.
func registerLogDrops(reg prometheus.Registerer, w *logqueue.Writer) {
	reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "sluice_log_lines_dropped_total",
		Help: "Log lines dropped because the log's output (standard output) did not take them in time.",
	}, func() float64 { return float64(w.Dropped()) }))
}
