package middleware

import (
	"bufio"
	"net"
	"net/http"
	"time"

	"github.com/sluicehq/sluice/requestid"
)

// Recorder wraps a ResponseWriter to remember when the request arrived, the
// status answered and the bytes written, and what the layers below noted
// about the request (notes.go): its route, its budget, its attempts. It
// implements router.Arrival and router.Annotator. A Recorder belongs to one
// request; its notes are written by the goroutine serving it.
type Recorder struct {
	http.ResponseWriter
	start time.Time
	// now is the access log's clock (nil: time.Now); end is when the
	// handler ended on it, read once by the first layer that asks
	// (Ended), so that the metrics and the access log share one reading.
	now func() time.Time
	end time.Time
	// switched is when the handler took the connection (Hijack) on that
	// clock; zero while it has not.
	switched time.Time
	status   int
	bytes    int64
	notes    notes
	// reqCtx, id and idText are RequestID's, when it runs inside
	// AccessLog: the request's context, the one value of its X-Request-Id
	// fields and, for an id RequestID makes, the value's text, made with
	// the Recorder rather than by three allocations of their own. A
	// Recorder serves one request and is never reused: the text, written
	// once, may be shared by the value.
	reqCtx requestCtx
	id     [1]string
	idText [requestid.Len]byte
	// idField is the answer's X-Request-Id value RequestID chose, not yet
	// set in the answer's header: stampID sets it as the header is first
	// asked for or sent.
	idField []string
}

// NewRecorder returns a Recorder for a request that arrived at start.
func NewRecorder(w http.ResponseWriter, start time.Time) *Recorder {
	return &Recorder{ResponseWriter: w, start: start}
}

// Arrival returns when the request started to arrive.
func (r *Recorder) Arrival() time.Time { return r.start }

// Ended returns when the request's handling ended: the time of the first
// call, on the clock its arrival was read with (AccessLog's), and the same
// time on every later call. The layers that report a request once its
// handler has returned (Metrics, AccessLog) call it, so that they report
// the same end for one reading of the clock.
func (r *Recorder) Ended() time.Time {
	if r.end.IsZero() {
		r.end = r.clock()
	}
	return r.end
}

// Status returns the status answered, 200 if the handler wrote without
// choosing one, 101 if it took the connection (a tunnel after a protocol
// switch), and 0 if it wrote nothing.
func (r *Recorder) Status() int { return r.status }

// Bytes returns the number of body bytes written.
func (r *Recorder) Bytes() int64 { return r.bytes }

// Header implements http.ResponseWriter. The answer's X-Request-Id, when
// RequestID left it to the Recorder, is in the map it returns.
func (r *Recorder) Header() http.Header {
	h := r.ResponseWriter.Header()
	if r.idField != nil {
		h[requestid.HeaderName], r.idField = r.idField, nil
	}
	return h
}

// stampID sets the answer's X-Request-Id that RequestID left to the
// Recorder, before the header goes out. Until then the wrapped writer's
// header is not asked for: package server's is made on demand, and can
// adopt the backend's header map instead (package router's answer).
func (r *Recorder) stampID() {
	if r.idField != nil {
		r.Header()
	}
}

// WriteHeader implements http.ResponseWriter.
func (r *Recorder) WriteHeader(code int) {
	if r.status == 0 && code >= 200 {
		r.status = code
	}
	r.stampID()
	r.ResponseWriter.WriteHeader(code)
}

// Write implements http.ResponseWriter.
func (r *Recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.stampID()
	n, err := r.ResponseWriter.Write(b)
	r.bytes += int64(n)
	return n, err
}

// Flush implements http.Flusher when the wrapped writer does.
func (r *Recorder) Flush() {
	r.stampID()
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack implements http.Hijacker by taking the wrapped writer's
// connection (through its own Unwrap chain). A handler hijacks to switch
// protocols, answering 101 on the raw connection where the Recorder cannot
// see it, so a successful hijack records 101: the access log and metrics
// then show tunnels as switched rather than as answering nothing.
func (r *Recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, brw, err := http.NewResponseController(r.ResponseWriter).Hijack()
	if err == nil && r.status == 0 {
		r.status = http.StatusSwitchingProtocols
		r.switched = r.clock()
	}
	return conn, brw, err
}

// Switched returns when the handler took the request's connection to
// switch protocols (Hijack), on the clock of Ended; the zero time if it
// did not. A tunnel's handler returns when the tunnel ends, minutes or
// hours later: Metrics observes a switched request's latency to here.
func (r *Recorder) Switched() time.Time { return r.switched }

// clock reads the Recorder's clock.
func (r *Recorder) clock() time.Time {
	if r.now != nil {
		return r.now()
	}
	return time.Now()
}

// Unwrap lets http.ResponseController reach the wrapped writer.
func (r *Recorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
