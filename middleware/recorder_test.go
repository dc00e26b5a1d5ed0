package middleware_test

import (
	"bufio"
	"bytes"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sluicehq/sluice/middleware"
)

// A handler that takes the connection to switch protocols answers 101 on
// the raw connection, past the Recorder: the hijack itself must record 101,
// and it must reach the connection through the Recorder, as
// http.ResponseController does.
func TestRecorderHijackRecordsSwitch(t *testing.T) {
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&buf, nil))
	logged := make(chan struct{})
	inner := middleware.AccessLog(logger, nil)(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Errorf("hijack through the Recorder: %v", err)
			return
		}
		defer conn.Close()
		_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n")
		_ = brw.Flush()
	}))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer close(logged)
		inner.ServeHTTP(w, r)
	}))
	defer srv.Close()

	conn, err := net.Dial("tcp", srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = conn.Write([]byte("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: test\r\nConnection: Upgrade\r\n\r\n"))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("client got %d, want 101", resp.StatusCode)
	}
	select {
	case <-logged:
	case <-time.After(30 * time.Second):
		t.Fatal("the handler never returned")
	}
	lines := logLines(t, &buf)
	if len(lines) != 1 || lines[0]["status"] != float64(http.StatusSwitchingProtocols) {
		t.Errorf("log lines %v, want one with status 101", lines)
	}
}

// A writer that cannot be hijacked says so, wrapping http.ErrNotSupported,
// and the Recorder records nothing.
func TestRecorderHijackUnsupported(t *testing.T) {
	rec := middleware.NewRecorder(httptest.NewRecorder(), time.Now())
	if _, _, err := rec.Hijack(); !errors.Is(err, http.ErrNotSupported) {
		t.Errorf("Hijack = %v, want http.ErrNotSupported", err)
	}
	if rec.Status() != 0 {
		t.Errorf("Status = %d after a failed hijack, want 0", rec.Status())
	}
}
