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
// ("http: TLS handshake error from 192.0.2.1:4711: EOF"), and up to the
// first value it quotes or brackets (`invalid Content-Length of "x"`, "http2:
// received GOAWAY [FrameHeader GOAWAY len=9]", a stack's "goroutine 7
// [running]"), with each run of digits (but one after a letter, as in http2) as one '#', at most maxKindLen
// bytes of it. The figures and values in a line are often the client's
// (a GOAWAY frame's length, of the client's choice, made every one a kind
// of its own, and so a line per frame): without them, a kind is the line's
// fixed text.
func serverLogKind(line string) string {
	if i := strings.Index(line, " from "); i >= 0 {
		line = line[:i]
	}
	if i := strings.IndexAny(line, "\"'[{(<"); i >= 0 {
		line = line[:i]
	}
	b := make([]byte, 0, min(len(line), maxKindLen))
	for i := 0; i < len(line) && len(b) < maxKindLen; i++ {
		c := line[i]
		if '0' <= c && c <= '9' && (len(b) == 0 || !isLetter(b[len(b)-1])) { // http2 stays
			if len(b) > 0 && b[len(b)-1] == '#' {
				continue
			}
			c = '#'
		}
		b = append(b, c)
	}
	return string(b)
}

// maxKindLen bounds a kind's text: the sampler remembers a few thousand.
const maxKindLen = 96

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
