package main

import (
	"log"
	"log/slog"
	"strings"
	"time"

	"github.com/sluicehq/sluice/internal/logsample"
	"github.com/sluicehq/sluice/router"
)

// The listeners' servers log what they cannot answer: a TLS handshake that
// failed, an HTTP/2 preface that never came, an accept error. Anyone who
// can reach a port can make those, one line each: a scanner sweeping the
// TLS port wrote a warning per connection. So the lines go through a
// sampler (package internal/logsample), as the router's failures do: the
// first router.LogLinesPerSecond of each kind a second, the next one let
// through saying how many were dropped ("suppressed").

// serverLog returns the error log of the listeners' servers, writing to
// logger at warn, sampled by kind (serverLogKind).
func serverLog(logger *slog.Logger) *log.Logger {
	return log.New(&sampledLog{logger: logger, lines: logsample.New(router.LogLinesPerSecond, time.Second, nil)}, "", 0)
}

// sampledLog is the writer of serverLog.
type sampledLog struct {
	logger *slog.Logger
	lines  *logsample.Sampler
}

func (w *sampledLog) Write(p []byte) (int, error) {
	line := strings.TrimSuffix(string(p), "\n")
	ok, dropped := w.lines.Allow(serverLogKind(line))
	switch {
	case !ok:
	case dropped > 0:
		w.logger.Warn(line, slog.Int("suppressed", dropped))
	default:
		w.logger.Warn(line)
	}
	return len(p), nil
}

// serverLogKind returns what makes a server's log line like others: the
// line up to the client's address, which net/http writes after " from "
// ("http: TLS handshake error from 192.0.2.1:4711: EOF"), else the whole
// line.
func serverLogKind(line string) string {
	if i := strings.Index(line, " from "); i >= 0 {
		return line[:i]
	}
	return line
}
