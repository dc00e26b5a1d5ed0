package router

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// deadlineWriter records the write deadlines set on it, and, when idler,
// the write idle timeouts (as package server's writer takes them).
type deadlineWriter struct {
	*httptest.ResponseRecorder
	deadlines []time.Time
	idles     []time.Duration
}

func (w *deadlineWriter) SetWriteDeadline(t time.Time) error {
	w.deadlines = append(w.deadlines, t)
	return nil
}

type idleWriter struct{ *deadlineWriter }

func (w idleWriter) SetWriteIdleTimeout(d time.Duration) error {
	w.idles = append(w.idles, d)
	return nil
}

// unwrapper is a middleware's writer between the router and the server's.
type unwrapper struct{ http.ResponseWriter }

func (u unwrapper) Unwrap() http.ResponseWriter { return u.ResponseWriter }

// An answer copied to a writer that takes a write idle timeout sets it
// once, and clears it at the end, instead of a deadline per Write (each
// of which read the clock), all on the writer itself, not through a
// ResponseController; to any other writer, each Write sets a deadline of
// the timeout from then.
func TestAnswerWriteDeadlines(t *testing.T) {
	const idle = 7 * time.Second
	body := bytes.Repeat([]byte("x"), 100<<10) // four Writes of the copier's buffer
	h := &routeHandler{opts: Options{WriteIdleTimeout: idle}}
	answer := func(w http.ResponseWriter) {
		resp := &http.Response{StatusCode: 200, Header: http.Header{}, Body: io.NopCloser(struct{ io.Reader }{bytes.NewReader(body)}), ContentLength: int64(len(body))}
		h.answer(context.Background(), w, resp)
	}

	dw := &deadlineWriter{ResponseRecorder: httptest.NewRecorder()}
	answer(unwrapper{idleWriter{dw}})
	if len(dw.idles) != 2 || dw.idles[0] != idle || dw.idles[1] != 0 {
		t.Errorf("write idle timeouts set: %v, want %v, then zero at the end (which clears the deadline)", dw.idles, idle)
	}
	if len(dw.deadlines) != 0 {
		t.Errorf("write deadlines set with an idle timeout: %v, want none", dw.deadlines)
	}
	if dw.Body.Len() != len(body) {
		t.Errorf("copied %d bytes, want %d", dw.Body.Len(), len(body))
	}

	dw = &deadlineWriter{ResponseRecorder: httptest.NewRecorder()}
	before := time.Now()
	answer(unwrapper{dw})
	if n := len(dw.deadlines); n != 5 || !dw.deadlines[n-1].IsZero() {
		t.Fatalf("write deadlines set: %v, want one per Write (4) and a zero one at the end", dw.deadlines)
	}
	for _, d := range dw.deadlines[:4] {
		if d.Before(before.Add(idle)) || d.After(time.Now().Add(idle)) {
			t.Errorf("write deadline %v, want the idle timeout from the Write", d)
		}
	}
}
