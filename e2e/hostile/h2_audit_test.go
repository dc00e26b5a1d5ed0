package hostile

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/sluicehq/sluice/internal/tlscert/certtest"
)

// The HTTP/2 audit: what a client that speaks HTTP/2 at the edge can do
// that an HTTP/1 client cannot. A listener with h2c (or tls) runs
// net/http's server, whose HTTP/2 side the suite's HTTP/1 cases never
// reach: many requests on one connection, frames that reset or never end a
// request, flow control, header compression, pseudo-header fields. The
// cases speak raw frames (http2.Framer) to an h2c listener of a gateway
// with the default settings, and check what reaches the backends.

// h2AuditRoutes: a catch-all, /admin/* and /acct/* behind auth (acct
// forwards the token's sub as X-Sluice-Subject), /up/* open to every
// method, /faults/* to a backend of its own whose breaker only the client
// faults case reads, and /zw/*, /sock/*, /many/* each to a backend of its
// own with a large answer (h2BigRoutes).
const h2AuditRoutes = `
routes:
  - {name: any, method: GET, path: /*, service: echo}
  - {name: admin, method: GET, path: /admin/*, service: echo, auth: users}
  - {name: acct, method: "*", path: /acct/*, service: echo, auth: users}
  - {name: up, method: "*", path: /up/*, service: echo}
  - {name: faults, method: "*", path: /faults/*, service: faults}
`

// h2BigRoutes are the routes (and services) of the cases that read large
// answers slowly, each its own so that one's counts are its own.
var h2BigRoutes = []string{"zw", "sock", "many", "leave"}

// h2Stack is the audit's gateway: an h2c route listener with the default
// settings, its admin listener, and its backends.
type h2Stack struct {
	*stack
	echo   *echoBackend
	faults *echoBackend // the faults route's
	big    map[string]*h2BigBackend
	roots  *x509.CertPool // the TLS listener's; nil: h2c
}

// newH2Stack starts the audit's gateway, its route listener h2c or, with
// overTLS, TLS (HTTP/2 by ALPN).
func newH2Stack(t *testing.T, overTLS bool) *h2Stack {
	t.Helper()
	s := &h2Stack{echo: newEchoBackend(t), faults: newEchoBackend(t), big: map[string]*h2BigBackend{}}
	var b strings.Builder
	if overTLS {
		dir := t.TempDir()
		ca := certtest.NewCA(t)
		ca.Server(t, "127.0.0.1").Write(t, dir, "site")
		s.roots = ca.Pool
		fmt.Fprintf(&b, "listeners:\n  - {address: \"127.0.0.1:0\", tls: {cert_file: %q, key_file: %q}}\n", dir+"/site.crt", dir+"/site.key")
	} else {
		b.WriteString("listeners:\n  - {address: \"127.0.0.1:0\", h2c: true}\n")
	}
	b.WriteString("admin: {address: \"127.0.0.1:0\"}\nshutdown_grace: 1s\n")
	fmt.Fprintf(&b, "registry:\n  kind: static\n  static:\n    - {service: echo, id: echo-1, address: %q}\n",
		s.echo.Listener.Addr().String())
	fmt.Fprintf(&b, "    - {service: faults, id: faults-1, address: %q}\n", s.faults.Listener.Addr().String())
	for _, name := range h2BigRoutes {
		s.big[name] = newH2BigBackend(t)
		fmt.Fprintf(&b, "    - {service: %s, id: %s-1, address: %q}\n", name, name, s.big[name].Listener.Addr().String())
	}
	usersYAML(t, &b, edgeAuditSecret)
	b.WriteString(h2AuditRoutes)
	for _, name := range h2BigRoutes {
		fmt.Fprintf(&b, "  - {name: %s, method: GET, path: /%s/*, service: %s}\n", name, name, name)
	}
	proc, addrs := startWith(t, b.String())
	s.stack = &stack{server: map[bool]string{false: "h2c", true: "tls"}[overTLS], gw: addrs[0], admin: addrs[1], proc: proc}
	return s
}

// conn opens a connection to the stack's route listener: over TLS, with
// HTTP/2 negotiated.
func (s *h2Stack) conn(t *testing.T) net.Conn {
	t.Helper()
	d := &net.Dialer{Timeout: hangLimit}
	if s.roots == nil {
		c, err := d.Dial("tcp", s.gw)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	c, err := tls.DialWithDialer(d, "tcp", s.gw, &tls.Config{RootCAs: s.roots, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	if p := c.ConnectionState().NegotiatedProtocol; p != "h2" {
		t.Fatalf("negotiated %q, want h2", p)
	}
	return c
}

// dial is dialH2 on the stack's route listener.
func (s *h2Stack) dial(t *testing.T, settings ...http2.Setting) *h2Conn {
	t.Helper()
	return h2On(t, s.conn(t), settings...)
}

// dialMute is dialH2Mute on the stack's route listener.
func (s *h2Stack) dialMute(t *testing.T, settings ...http2.Setting) *h2Conn {
	t.Helper()
	return h2MuteOn(t, s.conn(t), settings...)
}

// h2BigBackend answers every request with h2BigAnswer bytes, written as
// fast as the gateway takes them, and counts its connections open and the
// handlers still writing.
type h2BigBackend struct {
	*httptest.Server
	open    atomic.Int64 // connections not closed
	writing atomic.Int64 // handlers not returned
	started chan struct{}
}

const h2BigAnswer = 64 << 20

func newH2BigBackend(t *testing.T) *h2BigBackend {
	t.Helper()
	b := &h2BigBackend{started: make(chan struct{}, 64)}
	b.Server = httptest.NewUnstartedServer(http.HandlerFunc(b.serve))
	b.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			b.open.Add(1)
		case http.StateClosed, http.StateHijacked:
			b.open.Add(-1)
		}
	}
	b.Start()
	t.Cleanup(b.Close)
	return b
}

func (b *h2BigBackend) serve(w http.ResponseWriter, r *http.Request) {
	b.writing.Add(1)
	defer b.writing.Add(-1)
	w.Header().Set("Content-Length", strconv.Itoa(h2BigAnswer))
	chunk := bytes.Repeat([]byte("b"), 32<<10)
	select {
	case b.started <- struct{}{}:
	default:
	}
	for n := 0; n < h2BigAnswer; n += len(chunk) {
		if _, err := w.Write(chunk); err != nil {
			return
		}
	}
}

// h2Answer is what a stream got: its final header, body and how it ended.
type h2Answer struct {
	status  int
	header  http.Header
	body    []byte
	rst     bool // ended by RST_STREAM
	code    http2.ErrCode
	ended   bool          // END_STREAM or RST_STREAM seen
	done    chan struct{} // closed when ended, or when the connection ended
	endedBy string        // how the wait ended: "stream", "goaway", "closed"
}

func (a *h2Answer) String() string {
	switch {
	case a.rst:
		return "RST_STREAM " + a.code.String()
	case a.ended:
		return fmt.Sprintf("%d %q", a.status, a.body)
	}
	return "no end (" + a.endedBy + ")"
}

// h2Conn is a raw HTTP/2 client connection (prior knowledge). A goroutine
// reads its frames, answers SETTINGS and PING, grants flow-control window
// for every DATA frame when grant is set, and files each stream's frames.
type h2Conn struct {
	t     *testing.T
	c     net.Conn
	fr    *http2.Framer
	wmu   sync.Mutex
	hbuf  bytes.Buffer
	enc   *hpack.Encoder
	grant bool

	mu      sync.Mutex
	streams map[uint32]*h2Answer
	goaway  *http2.GoAwayFrame
	peer    map[http2.SettingID]uint32 // the server's settings
	closed  chan struct{}
	readErr error
}

// dialH2 opens an HTTP/2 connection to addr with the client settings given
// (none: the protocol's defaults), granting window as data arrives.
func dialH2(t *testing.T, addr string, settings ...http2.Setting) *h2Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, hangLimit)
	if err != nil {
		t.Fatal(err)
	}
	return h2On(t, c, settings...)
}

// h2On is dialH2 on the connection c (over TLS, say), which it closes with
// the test.
func h2On(t *testing.T, c net.Conn, settings ...http2.Setting) *h2Conn {
	t.Helper()
	t.Cleanup(func() { c.Close() })
	h := &h2Conn{t: t, c: c, grant: true, streams: map[uint32]*h2Answer{}, closed: make(chan struct{}),
		peer: map[http2.SettingID]uint32{}}
	h.fr = http2.NewFramer(c, c)
	h.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	h.fr.MaxHeaderListSize = 1 << 20
	h.enc = hpack.NewEncoder(&h.hbuf)
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := h.fr.WriteSettings(settings...); err != nil {
		t.Fatal(err)
	}
	go h.read()
	return h
}

// dialH2Mute opens an HTTP/2 connection to addr with the settings given
// and never reads from it: a client whose socket buffers fill.
func dialH2Mute(t *testing.T, addr string, settings ...http2.Setting) *h2Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, hangLimit)
	if err != nil {
		t.Fatal(err)
	}
	return h2MuteOn(t, c, settings...)
}

// h2MuteOn is dialH2Mute on the connection c, which it closes with the test.
func h2MuteOn(t *testing.T, c net.Conn, settings ...http2.Setting) *h2Conn {
	t.Helper()
	t.Cleanup(func() { c.Close() })
	h := &h2Conn{t: t, c: c, streams: map[uint32]*h2Answer{}, closed: make(chan struct{})}
	h.fr = http2.NewFramer(c, c)
	h.enc = hpack.NewEncoder(&h.hbuf)
	if _, err := io.WriteString(c, http2.ClientPreface); err != nil {
		t.Fatal(err)
	}
	if err := h.fr.WriteSettings(settings...); err != nil {
		t.Fatal(err)
	}
	return h
}

// setting returns the server's value of id, once its SETTINGS arrived.
func (h *h2Conn) setting(id http2.SettingID) (uint32, bool) {
	deadline := time.Now().Add(hangLimit)
	for time.Now().Before(deadline) {
		h.mu.Lock()
		v, ok := h.peer[id]
		n := len(h.peer)
		h.mu.Unlock()
		if n > 0 {
			return v, ok
		}
		time.Sleep(10 * time.Millisecond) // polling for the server's first frame
	}
	h.t.Fatal("no SETTINGS from the server")
	return 0, false
}

func (h *h2Conn) answer(id uint32) *h2Answer {
	a := h.streams[id]
	if a == nil {
		a = &h2Answer{header: http.Header{}, done: make(chan struct{})}
		h.streams[id] = a
	}
	return a
}

func (h *h2Conn) read() {
	defer close(h.closed)
	for {
		f, err := h.fr.ReadFrame()
		if err != nil {
			h.mu.Lock()
			h.readErr = err
			h.mu.Unlock()
			return
		}
		h.mu.Lock()
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				_ = f.ForeachSetting(func(st http2.Setting) error { h.peer[st.ID] = st.Val; return nil })
				h.write(func(fr *http2.Framer) error { return fr.WriteSettingsAck() })
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				h.write(func(fr *http2.Framer) error { return fr.WritePing(true, f.Data) })
			}
		case *http2.GoAwayFrame:
			h.goaway = f
		case *http2.MetaHeadersFrame:
			a := h.answer(f.StreamID)
			for _, hf := range f.Fields {
				if hf.Name == ":status" {
					if st, _ := strconv.Atoi(hf.Value); st >= 200 {
						a.status = st
					}
				} else {
					a.header.Add(hf.Name, hf.Value)
				}
			}
			if f.StreamEnded() && !a.ended {
				a.ended = true
				close(a.done)
			}
		case *http2.DataFrame:
			a := h.answer(f.StreamID)
			a.body = append(a.body, f.Data()...)
			if n := uint32(len(f.Data())); n > 0 && h.grant {
				h.write(func(fr *http2.Framer) error {
					if err := fr.WriteWindowUpdate(0, n); err != nil {
						return err
					}
					return fr.WriteWindowUpdate(f.StreamID, n)
				})
			}
			if f.StreamEnded() && !a.ended {
				a.ended = true
				close(a.done)
			}
		case *http2.RSTStreamFrame:
			a := h.answer(f.StreamID)
			if !a.ended {
				a.rst, a.code, a.ended = true, f.ErrCode, true
				close(a.done)
			}
		}
		h.mu.Unlock()
	}
}

// write runs fn on the framer, one writer at a time; a failed write is the
// connection's end, which the reader reports.
func (h *h2Conn) write(fn func(fr *http2.Framer) error) error {
	h.wmu.Lock()
	defer h.wmu.Unlock()
	return fn(h.fr)
}

// block encodes fields (name, value pairs) with the connection's encoder.
func (h *h2Conn) block(fields ...string) []byte {
	h.hbuf.Reset()
	for i := 0; i+1 < len(fields); i += 2 {
		_ = h.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return bytes.Clone(h.hbuf.Bytes())
}

// headers sends a header block on stream id, split into HEADERS and
// CONTINUATION frames of at most 16 KiB.
func (h *h2Conn) headers(id uint32, endStream bool, fields ...string) error {
	h.wmu.Lock()
	defer h.wmu.Unlock()
	blk := h.block(fields...)
	const max = 16 << 10
	first := blk[:min(len(blk), max)]
	rest := blk[len(first):]
	err := h.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: first, EndStream: endStream, EndHeaders: len(rest) == 0})
	for err == nil && len(rest) > 0 {
		n := min(len(rest), max)
		err = h.fr.WriteContinuation(id, n == len(rest), rest[:n])
		rest = rest[n:]
	}
	return err
}

// data sends data on stream id in DATA frames of at most 16 KiB, the last
// one ending the stream when end is set.
func (h *h2Conn) data(id uint32, data []byte, end bool) error {
	for {
		n := min(len(data), 16<<10)
		if err := h.write(func(fr *http2.Framer) error { return fr.WriteData(id, end && n == len(data), data[:n]) }); err != nil {
			return err
		}
		if data = data[n:]; len(data) == 0 {
			return nil
		}
	}
}

// request sends a request's header on stream id: method, path, and the
// extra fields, to the gateway's authority.
func (h *h2Conn) request(id uint32, method, path string, endStream bool, extra ...string) error {
	fields := append([]string{":method", method, ":scheme", "http", ":authority", "gw.test", ":path", path}, extra...)
	return h.headers(id, endStream, fields...)
}

// wait returns what stream id got once it ended, or once the connection
// did, or after hangLimit.
func (h *h2Conn) wait(id uint32) *h2Answer { return h.waitFor(id, hangLimit) }

// endedAmong counts the streams that ended of the n client streams from
// id first on (1, 3, 5, ...).
func (h *h2Conn) endedAmong(first uint32, n uint32) int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var ended int64
	for i := range n {
		if a := h.streams[first+2*i]; a != nil && a.ended {
			ended++
		}
	}
	return ended
}

// waitFor is wait with its own limit.
func (h *h2Conn) waitFor(id uint32, limit time.Duration) *h2Answer {
	h.mu.Lock()
	a := h.answer(id)
	h.mu.Unlock()
	select {
	case <-a.done:
		a.endedBy = "stream"
	case <-h.closed:
		a.endedBy = "closed"
	case <-time.After(limit):
		a.endedBy = "timeout"
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	cp := *a
	cp.body = bytes.Clone(a.body)
	cp.header = a.header.Clone()
	if cp.endedBy != "stream" && h.goaway != nil {
		cp.endedBy = "goaway " + h.goaway.ErrCode.String()
	}
	return &cp
}

// waitStatus returns stream id's final status once its header came, or
// 0 after hangLimit.
func (h *h2Conn) waitStatus(id uint32) int {
	for deadline := time.Now().Add(hangLimit); time.Now().Before(deadline); {
		h.mu.Lock()
		st := h.answer(id).status
		h.mu.Unlock()
		if st != 0 {
			return st
		}
		time.Sleep(5 * time.Millisecond) // polling for the header
	}
	return 0
}

// get sends GET path as a whole request on stream id and waits for its
// answer.
func (h *h2Conn) get(id uint32, path string, extra ...string) *h2Answer {
	if err := h.request(id, "GET", path, true, extra...); err != nil {
		h.t.Fatalf("GET %s: %v", path, err)
	}
	return h.wait(id)
}

// waitClosed reports whether the gateway ended the connection (GOAWAY, or
// EOF) within limit.
func (h *h2Conn) waitClosed(limit time.Duration) (string, bool) {
	select {
	case <-h.closed:
	case <-time.After(limit):
		h.mu.Lock()
		defer h.mu.Unlock()
		if h.goaway != nil {
			return "GOAWAY " + h.goaway.ErrCode.String(), true
		}
		return "", false
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.goaway != nil {
		return "GOAWAY " + h.goaway.ErrCode.String() + ", then " + h.readErr.Error(), true
	}
	return h.readErr.Error(), true
}

// checkH2Sane is a GET over a fresh connection: the gateway still serves.
func checkH2Sane(t *testing.T, s *h2Stack, path string) {
	t.Helper()
	if a := s.dial(t).get(1, path); a.status != 200 {
		t.Fatalf("GET %s on a fresh connection: %v", path, a)
	}
}

// TestH2Audit runs the audit on an h2c listener and on a TLS one, whose
// HTTP/2 connections the listener serves through its own wrapper
// (server.NetHTTPTLS), one after the other.
func TestH2Audit(t *testing.T) {
	for _, overTLS := range []bool{false, true} {
		t.Run(map[bool]string{false: "h2c", true: "tls"}[overTLS], func(t *testing.T) { h2Audit(t, newH2Stack(t, overTLS)) })
	}
}

func h2Audit(t *testing.T, s *h2Stack) {
	checkH2Sane(t, s, "/warm/x")
	// The cases that count the gateway's goroutines run alone, first.
	t.Run("rapid reset", func(t *testing.T) { h2RapidReset(t, s) })
	t.Run("continuation flood", func(t *testing.T) { h2ContinuationFlood(t, s) })
	t.Run("parallel", func(t *testing.T) {
		for name, run := range map[string]func(*testing.T, *h2Stack){
			"zero window":                h2ZeroWindow,
			"socket never read":          h2SocketNeverRead,
			"stalled body":               h2StalledBody,
			"trailers":                   h2Trailers,
			"connection-specific fields": h2ConnectionFields,
			"pseudo-headers and paths":   h2Paths,
			"content-length mismatch":    h2ContentLength,
			"client faults":              h2ClientFaults,
			"clients leave mid-answer":   h2ClientsLeaveMidAnswer,
			"header lists":               h2HeaderLists,
			"concurrent streams":         h2ConcurrentStreams,
			"frame size":                 h2FrameSize,
			"slow header block":          h2SlowHeaderBlock,
			"field spellings":            h2FieldSpellings,
		} {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				run(t, s)
			})
		}
	})
}

// h2RapidReset: thousands of requests, each reset as soon as sent
// (CVE-2023-44487). The gateway keeps serving another client, no backend
// sees more requests than the attacker sent, and what the gateway held is
// released.
func h2RapidReset(t *testing.T, s *h2Stack) {
	before := held(t, s.stack)
	const n = 5000
	h := s.dial(t)
	attack := make(chan int, 1)
	go func() {
		sent := 0
		for i := range n {
			id := uint32(2*i + 1)
			if h.request(id, "GET", fmt.Sprintf("/rr/%d", i), true) != nil ||
				h.write(func(fr *http2.Framer) error { return fr.WriteRSTStream(id, http2.ErrCodeCancel) }) != nil {
				break
			}
			sent++
		}
		attack <- sent
	}()
	checkH2Sane(t, s, "/rr-sane/during")
	sent := <-attack
	how, closed := h.waitClosed(time.Second)
	reached := len(s.echo.matching("/rr/"))
	t.Logf("%d requests sent and reset (connection ended by the gateway: %v %s); %d reached the backend; %v before",
		sent, closed, how, reached, before)
	if reached > sent {
		t.Errorf("%d requests reached the backend for %d sent", reached, sent)
	}
	h.c.Close()
	checkH2Sane(t, s, "/rr-sane/after")
	checkReleasedSoon(t, s, before)
}

// checkReleasedSoon waits until the gateway holds no more requests in
// flight, open files and goroutines than before, give or take the
// connections to backends its pool may keep (two goroutines and a file
// each): an attack's cost must not outlive it.
func checkReleasedSoon(t *testing.T, s *h2Stack, before resources) {
	t.Helper()
	deadline := time.Now().Add(hangLimit + slack)
	for {
		now := held(t, s.stack)
		if now.inFlight == 0 && now.goroutines <= before.goroutines+2*h2PoolSlack && now.fds <= before.fds+h2PoolSlack {
			t.Logf("released: %v", now)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway still holds %v; before: %v; its goroutines:\n%.4000s", now, before, goroutines(s.stack))
		}
		time.Sleep(100 * time.Millisecond) // polling a condition
	}
}

// h2PoolSlack is how many more idle connections to a backend a burst may
// leave in the gateway's pool.
const h2PoolSlack = 64

// h2ContinuationFlood: a header block that never ends, CONTINUATION after
// CONTINUATION (CVE-2023-45288). The gateway ends the connection, having
// read a bounded amount, and its memory does not follow the flood.
func h2ContinuationFlood(t *testing.T, s *h2Stack) {
	rss := metric(t, s.stack, "process_resident_memory_bytes")
	h := s.dial(t)
	if err := h.write(func(fr *http2.Framer) error {
		return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1,
			BlockFragment: h.block(":method", "GET", ":scheme", "http", ":authority", "gw.test", ":path", "/cf/x")})
	}); err != nil {
		t.Fatal(err)
	}
	const limit = 256 << 20
	sent := 0
	var werr error
	for i := 0; sent < limit; i++ {
		frag := h.block(fmt.Sprintf("x-f-%d", i), strings.Repeat("a", 8000))
		if werr = h.write(func(fr *http2.Framer) error { return fr.WriteContinuation(1, false, frag) }); werr != nil {
			break
		}
		sent += len(frag)
		if i%64 == 0 {
			select {
			case <-h.closed:
				werr = fmt.Errorf("closed by the gateway")
			default:
			}
			if werr != nil {
				break
			}
		}
	}
	how, closed := h.waitClosed(hangLimit)
	grew := metric(t, s.stack, "process_resident_memory_bytes") - rss
	t.Logf("sent %d KiB of CONTINUATION before %v; connection ended: %v %s; resident memory grew %.1f MiB",
		sent>>10, werr, closed, how, grew/(1<<20))
	if !closed || sent >= limit {
		t.Errorf("the gateway read %d KiB of one header block and kept the connection", sent>>10)
	}
	if grew > 64<<20 {
		t.Errorf("the gateway's memory grew %.1f MiB", grew/(1<<20))
	}
	if len(s.echo.matching("/cf/")) > 0 {
		t.Error("the request reached the backend")
	}
	checkH2Sane(t, s, "/cf-sane/x")
}

// h2ZeroWindow: a client asks for large answers and never grants window.
// Each stream ends at the write idle timeout (30s), and the backend's
// connection is released.
func h2ZeroWindow(t *testing.T, s *h2Stack) {
	b := s.big["zw"]
	h := s.dial(t, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	h.grant = false
	const streams = 3
	start := time.Now()
	for i := range streams {
		if err := h.request(uint32(2*i+1), "GET", fmt.Sprintf("/zw/%d", i), true); err != nil {
			t.Fatal(err)
		}
	}
	waitCount(t, "backend handlers writing", &b.writing, func(v int64) bool { return v == streams }, hangLimit)
	for i := range streams {
		a := h.waitFor(uint32(2*i+1), 30*time.Second+slack+hangLimit)
		t.Logf("stream %d: %v after %v (got %d body bytes)", 2*i+1, a, time.Since(start).Round(time.Millisecond), len(a.body))
		if !a.rst && a.endedBy == "timeout" {
			t.Errorf("stream %d still open after %v", 2*i+1, time.Since(start).Round(time.Millisecond))
		}
	}
	waitCount(t, "backend handlers writing", &b.writing, func(v int64) bool { return v == 0 }, hangLimit)
	waitCount(t, "backend connections open", &b.open, func(v int64) bool { return v == 0 }, hangLimit)
	t.Logf("backend released after %v", time.Since(start).Round(time.Millisecond))
}

// waitCount polls v until cond holds, or fails after limit.
func waitCount(t *testing.T, what string, v *atomic.Int64, cond func(int64) bool, limit time.Duration) {
	t.Helper()
	waitWithin(t, what, limit, func() bool { return cond(v.Load()) })
}

// h2SocketNeverRead: a client grants all the window there is, asks for
// large answers and never reads its socket. The route's budget releases
// the backends, but a stream's write deadline (the write idle timeout)
// cannot end a handler blocked on a connection that writes nothing: the
// frame that resets the stream waits behind it. Without a bound on the
// connection's writes (cmd/gateway: HTTP2Config.WriteByteTimeout) the
// handlers stayed in flight for ever.
func h2SocketNeverRead(t *testing.T, s *h2Stack) {
	b := s.big["sock"]
	h := s.dialMute(t, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1})
	if err := h.write(func(fr *http2.Framer) error { return fr.WriteWindowUpdate(0, 1<<31-1-65535) }); err != nil {
		t.Fatal(err)
	}
	const streams = 3
	start := time.Now()
	for i := range streams {
		if err := h.request(uint32(2*i+1), "GET", fmt.Sprintf("/sock/%d", i), true); err != nil {
			t.Fatal(err)
		}
	}
	waitCount(t, "backend handlers started", &b.writing, func(v int64) bool { return v == streams }, hangLimit)
	// The write idle timeout (30s) and the route's budget (10s) both end
	// well within this.
	limit := 30*time.Second + slack + hangLimit
	waitCount(t, "backend handlers writing", &b.writing, func(v int64) bool { return v == 0 }, limit)
	waitCount(t, "backend connections open", &b.open, func(v int64) bool { return v == 0 }, hangLimit)
	// And the gateway's handlers returned, and no goroutine of its is
	// left writing to the connection: what stays is an idle connection,
	// which the listener's idle timeout (2 min) closes.
	// (In flight counts the parallel cases' too: the zero-window one's
	// end at the write idle timeout, 30s.)
	for deadline := start.Add(limit); metric(t, s.stack, "sluice_requests_in_flight") != 0; {
		if time.Now().After(deadline) {
			resp, err := http.Get("http://" + s.admin + "/metrics")
			if err == nil {
				m, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				for _, l := range strings.Split(string(m), "\n") {
					if strings.HasPrefix(l, "sluice_requests_in_flight") {
						t.Log(l)
					}
				}
			}
			t.Fatalf("requests still in flight after %v; goroutines:\n%.6000s", limit, goroutines(s.stack))
		}
		time.Sleep(50 * time.Millisecond) // polling a condition
	}
	// The dump is the whole gateway's, and the parallel cases' connections
	// write too: a write under way is looked at again until none is, and
	// only one that lasts (blocked on this connection) fails the case.
	for deadline := time.Now().Add(hangLimit); ; {
		g := goroutines(s.stack)
		if !strings.Contains(g, "writeFrameAsync") {
			break
		}
		if time.Now().After(deadline) {
			t.Errorf("a goroutine of the gateway is still writing to a connection after %v more:\n%.4000s", hangLimit, g)
			break
		}
		time.Sleep(50 * time.Millisecond) // polling a condition
	}
	t.Logf("backend and handlers released after %v", time.Since(start).Round(time.Millisecond))
}

// h2StalledBody: a body that sends one byte of 100 and stops is answered
// 408 at the body idle timeout (10s) and never holds a backend.
func h2StalledBody(t *testing.T, s *h2Stack) {
	h := s.dial(t)
	if err := h.request(1, "POST", "/up/stall", false, "content-length", "100"); err != nil {
		t.Fatal(err)
	}
	if err := h.write(func(fr *http2.Framer) error { return fr.WriteData(1, false, []byte("x")) }); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	a := h.waitFor(1, 10*time.Second+slack)
	t.Logf("answered %v after %v", a, time.Since(start).Round(time.Millisecond))
	if a.status != http.StatusRequestTimeout {
		t.Errorf("answered %v, want 408", a)
	}
	if n := len(s.echo.matching("/up/stall")); n > 0 {
		t.Errorf("the stalled request reached the backend (%d)", n)
	}
}

// h2Trailers: request trailers carrying the identity and budget fields the
// gateway sets never reach the backend, declared or not.
func h2Trailers(t *testing.T, s *h2Stack) {
	h := s.dial(t)
	tok := "Bearer " + edgeAuditToken(t, "alice")
	for i, declared := range []string{"x-sluice-subject, sluice-budget, grpc-timeout, x-ok", "x-ok"} {
		id := uint32(2*i + 1)
		path := fmt.Sprintf("/acct/trailer-%d", i)
		if err := h.request(id, "POST", path, false, "authorization", tok, "trailer", declared); err != nil {
			t.Fatal(err)
		}
		if err := h.write(func(fr *http2.Framer) error { return fr.WriteData(id, false, []byte("hello")) }); err != nil {
			t.Fatal(err)
		}
		if err := h.headers(id, true, "x-sluice-subject", "admin", "sluice-budget", "3600000", "grpc-timeout", "1H", "x-ok", "yes"); err != nil {
			t.Fatal(err)
		}
		a := h.wait(id)
		seen := s.echo.matching(path)
		if a.status != 200 || len(seen) != 1 {
			t.Fatalf("trailers declared %q: %v, the backend saw %d", declared, a, len(seen))
		}
		got := seen[0]
		t.Logf("trailers declared %q: backend saw trailer %v, subject %q", declared, got.Trailer, got.Header.Get("X-Sluice-Subject"))
		for _, f := range []string{"X-Sluice-Subject", "Sluice-Budget", "Grpc-Timeout"} {
			if _, ok := got.Trailer[f]; ok {
				t.Errorf("trailers declared %q: the backend got trailer %s: %q", declared, f, got.Trailer[f])
			}
		}
		if v := got.Header.Values("X-Sluice-Subject"); len(v) != 1 || v[0] != "alice" {
			t.Errorf("the backend's X-Sluice-Subject: %q", v)
		}
	}
}

// h2ConnectionFields: the fields HTTP/2 forbids in a request (RFC 9113,
// 8.2.2) are refused, never forwarded.
func h2ConnectionFields(t *testing.T, s *h2Stack) {
	h := s.dial(t)
	cases := [][2]string{{"connection", "keep-alive"}, {"keep-alive", "timeout=5"}, {"proxy-connection", "keep-alive"},
		{"transfer-encoding", "chunked"}, {"te", "gzip"}, {"upgrade", "websocket"}}
	for i, f := range cases {
		id := uint32(2*i + 1)
		path := fmt.Sprintf("/up/conn-%d", i)
		a := h.get(id, path, f[0], f[1])
		t.Logf("%s: %s: %v", f[0], f[1], a)
		if !a.rst && (a.status < 400 || a.status > 499) {
			t.Errorf("%s: %s: answered %v, want a stream error or a 4xx", f[0], f[1], a)
		}
		if n := len(s.echo.matching(path)); n > 0 {
			t.Errorf("%s: %s: forwarded", f[0], f[1])
		}
	}
	if a := h.get(uint32(2*len(cases)+1), "/up/conn-te-trailers", "te", "trailers"); a.status != 200 {
		t.Errorf("te: trailers: %v, want 200", a)
	}
}

// h2Paths: pseudo-header fields that HTTP/1 has no spelling for, or spell
// a path otherwise, bypass neither routing nor auth, and a target or
// authority that no HTTP/1.1 request carries is refused, not forwarded.
func h2Paths(t *testing.T, s *h2Stack) {
	cases := []struct {
		name   string
		fields []string
		ok     func(a *h2Answer) bool
		want   string
	}{
		{"path without slash", []string{":method", "GET", ":scheme", "http", ":authority", "gw.test", ":path", "admin/x"},
			refused, "refused"},
		{"GET *", []string{":method", "GET", ":scheme", "http", ":authority", "gw.test", ":path", "*"}, refused, "refused"},
		{"OPTIONS *", []string{":method", "OPTIONS", ":scheme", "http", ":authority", "gw.test", ":path", "*"},
			func(a *h2Answer) bool { return refused(a) || a.header.Get("X-Seen") == "" }, "not forwarded"},
		{"absolute-form", []string{":method", "GET", ":scheme", "http", ":authority", "gw.test", ":path", "http://gw.test/admin/x"},
			refused, "refused (401 or 400)"},
		{"escaped letter", []string{":method", "GET", ":scheme", "http", ":authority", "gw.test", ":path", "/%61dmin/x"},
			func(a *h2Answer) bool { return a.status == 400 }, "400"},
		{"CONNECT", []string{":method", "CONNECT", ":authority", "gw.test:443"}, refused, "refused"},
		{"extended CONNECT, open route", []string{":method", "CONNECT", ":protocol", "websocket", ":scheme", "http",
			":authority", "gw.test", ":path", "/up/ws", "sec-websocket-version", "13"}, refused, "refused"},
		{"extended CONNECT, auth route", []string{":method", "CONNECT", ":protocol", "websocket", ":scheme", "http",
			":authority", "gw.test", ":path", "/admin/ws", "sec-websocket-version", "13"}, refused, "refused"},
		// Targets no HTTP/1.1 request line and Host carry, refused by the
		// gateway: forwarded, the first injected a target and a version
		// into the request line, which the backend refused (400).
		{"space in the query", []string{":method", "GET", ":scheme", "http", ":authority", "gw.test", ":path", "/up/target-q?x=a HTTP/1.1"},
			gatewayRefused, "refused by the gateway"},
		{"authority no host", []string{":method", "GET", ":scheme", "http", ":authority", "a b", ":path", "/up/target-a"},
			gatewayRefused, "refused by the gateway"},
		{"no authority nor host", []string{":method", "GET", ":scheme", "http", ":path", "/up/target-n"},
			gatewayRefused, "refused by the gateway"},
	}
	h := s.dial(t)
	for i, c := range cases {
		id := uint32(2*i + 1)
		if err := h.headers(id, true, c.fields...); err != nil {
			t.Fatal(err)
		}
		a := h.wait(id)
		t.Logf("%s: %v (X-Seen %q)", c.name, a, a.header.Get("X-Seen"))
		if !c.ok(a) {
			t.Errorf("%s: %v, want %s", c.name, a, c.want)
		}
	}
	for _, r := range s.echo.matching("") {
		if r.Method == "CONNECT" || r.Method == "OPTIONS" || strings.Contains(r.RequestURI, "admin") || strings.Contains(r.RequestURI, "/ws") ||
			strings.HasPrefix(r.RequestURI, "/up/target-") {
			t.Errorf("the backend got %s %s", r.Method, r.RequestURI)
		}
	}
	// :authority and Host that disagree: the backend sees one of them,
	// the one the gateway routed and logged (r.Host).
	a := h.get(uint32(2*len(cases)+1), "/up/authority", "host", "other.test")
	seen := s.echo.matching("/up/authority")
	if a.status != 200 || len(seen) != 1 {
		t.Fatalf(":authority and Host disagreeing: %v, backend saw %d", a, len(seen))
	}
	t.Logf(":authority gw.test, Host other.test: backend saw Host %q, header Host %q", seen[0].Host, seen[0].Header.Values("Host"))
	if seen[0].Host != "gw.test" {
		t.Errorf("the backend saw Host %q, the gateway routed gw.test", seen[0].Host)
	}
}

// refused: a stream error, or a 4xx the gateway wrote (no X-Seen).
func refused(a *h2Answer) bool {
	return a.rst || (a.status >= 400 && a.status < 500 && a.header.Get("X-Seen") == "")
}

// gatewayRefused reports whether a was refused by the gateway itself: a
// stream error, or a 4xx problem of its own (a backend's 400 is no
// refusal).
func gatewayRefused(a *h2Answer) bool {
	return a.rst || refused(a) && a.header.Get("Content-Type") == "application/problem+json"
}

// h2ContentLength: a content-length the DATA frames disagree with is
// refused, and no backend takes the body for complete.
func h2ContentLength(t *testing.T, s *h2Stack) {
	h := s.dial(t)
	cases := []struct {
		name string
		cl   int
		data int
	}{{"short", 10, 3}, {"long", 3, 8}, {"short beyond the held 64 KiB", 200 << 10, 100 << 10},
		{"none: the stream ends with the header", 5, 0}}
	for i, c := range cases {
		id := uint32(2*i + 1)
		path := fmt.Sprintf("/up/cl-%d", i)
		if err := h.request(id, "POST", path, c.data == 0, "content-length", strconv.Itoa(c.cl)); err != nil {
			t.Fatal(err)
		}
		// With no data, the stream ended with the header: net/http's server
		// holds no DATA to the field then, and the gateway must.
		if c.data > 0 {
			if err := h.data(id, bytes.Repeat([]byte("d"), c.data), true); err != nil {
				t.Fatal(err)
			}
		}
		a := h.wait(id)
		t.Logf("%s (content-length %d, %d bytes): %v", c.name, c.cl, c.data, a)
		if !a.rst && (a.status < 400 || a.status > 499) {
			t.Errorf("%s: %v, want a stream error or a 4xx", c.name, a)
		}
		if got := s.echo.complete(path); len(got) > 0 {
			t.Errorf("%s: the backend took a body of %d bytes for complete", c.name, len(got[0].Body))
		}
	}
}

// h2HeaderLists: header lists beyond MaxHeaderBytes (64 KiB), however
// compressed, are refused (431 or a connection error), and the gateway's
// memory does not follow them.
func h2HeaderLists(t *testing.T, s *h2Stack) {
	rss := metric(t, s.stack, "process_resident_memory_bytes")
	var many []string
	for i := range 4000 {
		many = append(many, fmt.Sprintf("x-h-%d", i), "v")
	}
	big := []string{"x-big", strings.Repeat("b", 100<<10)}
	entry := strings.Repeat("d", 3900) // fits the 4 KiB dynamic table
	var indexed []string
	for range 40 {
		indexed = append(indexed, "x-d", entry)
	}
	for _, c := range []struct {
		name   string
		fields []string
	}{{"many small fields", many}, {"one huge field", big}, {"one table entry referenced 40 times", indexed}} {
		h := s.dial(t)
		if v, ok := h.setting(http2.SettingMaxHeaderListSize); ok {
			t.Logf("the server's SETTINGS_MAX_HEADER_LIST_SIZE: %d", v)
		}
		if c.name == "one table entry referenced 40 times" {
			// The entry enters the table with a request that fits.
			if a := h.get(1, "/up/table-warm", "x-d", entry); a.status != 200 {
				t.Fatalf("warming the table: %v", a)
			}
		}
		a := h.get(3, "/up/hl", c.fields...)
		how, closed := h.waitClosed(0)
		t.Logf("%s: %v (connection ended: %v %s)", c.name, a, closed, how)
		if a.status != 431 && !a.rst && !strings.HasPrefix(a.endedBy, "goaway") && a.endedBy != "closed" {
			t.Errorf("%s: %v, want 431 or an error", c.name, a)
		}
	}
	if n := len(s.echo.matching("/up/hl")); n > 0 {
		t.Errorf("%d oversized header lists reached the backend", n)
	}
	if grew := metric(t, s.stack, "process_resident_memory_bytes") - rss; grew > 64<<20 {
		t.Errorf("the gateway's memory grew %.1f MiB", grew/(1<<20))
	}
}

// h2ConcurrentStreams: one connection opens as many streams as the server
// allows, each holding a backend answer (a reader that grants no window).
// The server's bound holds (one more stream is refused), the gateway
// keeps serving others, and closing the connection releases every stream.
func h2ConcurrentStreams(t *testing.T, s *h2Stack) {
	b := s.big["many"]
	h := s.dial(t, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 0})
	h.grant = false
	maxStreams, ok := h.setting(http2.SettingMaxConcurrentStreams)
	t.Logf("the server's SETTINGS_MAX_CONCURRENT_STREAMS: %d (sent: %v)", maxStreams, ok)
	if !ok || maxStreams > 100 {
		t.Fatalf("concurrent streams bounded at %d (sent: %v), want at most 100: each holds a node's connection", maxStreams, ok)
	}
	for i := range int(maxStreams) {
		if err := h.request(uint32(2*i+1), "GET", fmt.Sprintf("/many/%d", i), true); err != nil {
			t.Fatal(err)
		}
	}
	// Every stream settles: its answer is being written by the backend, or
	// it ended (the gateway's concurrency limit may shed some, 503, on a
	// loaded machine; a stream's budget may run out while it waits).
	waitFor(t, "every stream to settle", func() bool {
		return b.writing.Load()+h.endedAmong(1, maxStreams) >= int64(maxStreams)
	})
	ended := h.endedAmong(1, maxStreams)
	t.Logf("one connection holds %d backend answers (%d backend connections, %d streams ended)", b.writing.Load(), b.open.Load(), ended)
	over := uint32(2*maxStreams + 1)
	if err := h.request(over, "GET", "/many/over", true); err != nil {
		t.Fatal(err)
	}
	if a := h.wait(over); !a.rst {
		t.Errorf("stream %d past the bound: %v, want RST_STREAM", maxStreams+1, a)
	}
	checkH2Sane(t, s, "/many-sane/x")
	h.c.Close()
	waitCount(t, "backend handlers writing", &b.writing, func(v int64) bool { return v == 0 }, hangLimit)
	waitCount(t, "backend connections open", &b.open, func(v int64) bool { return v == 0 }, hangLimit)
}

// h2FrameSize: the gateway advertises the protocol's least frame size, 16
// KiB, and closes a connection whose client declares a larger frame. Its
// HTTP/2 server makes a frame's buffer at the declared size before the
// payload comes and keeps it for the connection's life: at net/http's 1
// MiB, a frame header and one byte of payload held 1 MiB of heap for as
// long as the client kept the connection.
func h2FrameSize(t *testing.T, s *h2Stack) {
	h := s.dial(t)
	size, ok := h.setting(http2.SettingMaxFrameSize)
	if !ok {
		size = 16 << 10 // the protocol's initial value, when not sent
	}
	if size != 16<<10 {
		t.Errorf("SETTINGS_MAX_FRAME_SIZE %d, want 16384", size)
	}
	if err := h.request(1, "POST", "/up/frame", false, "content-length", "1048575"); err != nil {
		t.Fatal(err)
	}
	// A DATA frame on stream 1 declaring 1 MiB - 1 bytes, and one of them.
	if err := h.write(func(fr *http2.Framer) error {
		_, err := h.c.Write([]byte{0x0f, 0xff, 0xff, byte(http2.FrameData), 0, 0, 0, 0, 1, 'x'})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	how, closed := h.waitClosed(hangLimit)
	t.Logf("after a frame of 1 MiB declared: %s", how)
	if !closed || !strings.Contains(how, "FRAME_SIZE_ERROR") {
		t.Errorf("a frame over the advertised size: %q, want the connection closed with FRAME_SIZE_ERROR", how)
	}
	checkH2Sane(t, s, "/frame-sane/x")
}

// h2SlowHeaderBlock: a request's header block that never ends (a HEADERS
// frame without END_HEADERS, no CONTINUATION) is held to a head's 10 s
// header timeout: the connection is closed. net/http's HTTP/2 server alone
// waited for the rest until the connection's idle timeout, 2 minutes, with
// the block's bytes held.
func h2SlowHeaderBlock(t *testing.T, s *h2Stack) {
	h := s.dial(t)
	if a := h.get(1, "/slow-block/before"); a.status != 200 {
		t.Fatalf("a request before: %v", a)
	}
	neverEndingBlock(t, h, 3, "http", "/slow-block/x")
	if n := len(s.echo.matching("/slow-block/x")); n > 0 {
		t.Errorf("the request whose header never ended reached the backend (%d)", n)
	}
	checkH2Sane(t, s, "/slow-block-sane/x")
}

// neverEndingBlock sends, on stream id of h, half the header block of a GET
// of path and nothing more, and checks that the gateway closes the
// connection within hangLimit (its header timeout is 10 s).
func neverEndingBlock(t *testing.T, h *h2Conn, id uint32, scheme, path string) {
	t.Helper()
	blk := h.block(":method", "GET", ":scheme", scheme, ":authority", "gw.test", ":path", path,
		"x-pad", strings.Repeat("p", 3000))
	if err := h.write(func(fr *http2.Framer) error {
		return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: blk[:len(blk)/2], EndStream: true})
	}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	how, closed := h.waitClosed(hangLimit)
	t.Logf("a header block never ended: %q after %v", how, time.Since(start).Round(time.Millisecond))
	if !closed || strings.HasPrefix(how, "GOAWAY") && !strings.Contains(how, ", then ") {
		t.Errorf("a header block that never ends: the connection is still open after %v (%q)", hangLimit, how)
	}
}
