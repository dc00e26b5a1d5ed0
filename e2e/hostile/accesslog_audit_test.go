package hostile

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The access log's line is written by the gateway's own JSON encoder
// (middleware.JSONHandler), not slog's. Whatever a client puts in what the
// line repeats (its path decoded: CR, LF, an escape sequence that would
// colour a terminal, bytes that are not UTF-8, U+2028 that ends a line in
// JavaScript, quotes and backslashes), each request gets one line, valid
// JSON, and the line is byte for byte the one Go's slog JSON handler writes
// for the same fields: the encoder adds no way to forge a line or to break
// a log pipeline's parser that slog did not have.
func TestAccessLogLinesOfHostileRequestsAreSlogsLines(t *testing.T) {
	targets := []string{
		"/log/plain", "/log/%0d%0a%7b%22msg%22:%22forged%22%7d", "/log/%1b[31mred%1b[0m", "/log/%ff%fe%c3",
		"/log/%e2%80%a8%e2%80%a9", "/log/q%22b%5cs%5c%5c", "/log/%7f%01%1f%09", "/log/" + strings.Repeat("%e6%97%a5a%22", 300),
	}
	onEachServer(t, func(t *testing.T, srv listenerServer) {
		be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Seen", "1")
		}))
		t.Cleanup(be.Close)
		var b strings.Builder
		gatewayYAML(&b, srv.config, time.Second)
		fmt.Fprintf(&b, "registry:\n  kind: static\n  static:\n    - {service: logs, id: logs-1, address: %q}\n", be.Listener.Addr().String())
		b.WriteString("routes:\n  - {name: logs, path: /log/*, service: logs}\n")
		file := filepath.Join(t.TempDir(), "gateway.yaml")
		if err := os.WriteFile(file, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		// The suite's gateways keep their access log off; this one's is
		// the point.
		g, addrs := runGateway(t, exec.Command(gatewayBin, "-config", file, "-pprof"), 2)

		for _, target := range targets {
			x := send(t, addrs[0], "GET "+target+" HTTP/1.1\r\nHost: h\r\n"+
				"Traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01\r\nConnection: close\r\n\r\n")
			if len(x.answers) != 1 {
				t.Fatalf("%s: %s, want one answer", target, x)
			}
			id := x.answers[0].resp.Header.Get("X-Request-Id")
			u, err := url.ParseRequestURI(target)
			if err != nil {
				t.Fatal(err)
			}
			line := g.accessLine(t, id)
			if !json.Valid([]byte(line)) {
				t.Errorf("%s: the line is not JSON: %q", target, line)
				continue
			}
			if want := slogsLine(t, line, u.Path); line != want {
				t.Errorf("%s:\n line %q\nslog's %q", target, line, want)
			}
		}
	})
}

// accessLine waits for the access-log line of the request whose id is id,
// and returns it; it fails the test when a line names the id twice.
func (g *gatewayProc) accessLine(t *testing.T, id string) string {
	t.Helper()
	needle := `"request_id":"` + id + `"`
	deadline := time.Now().Add(hangLimit)
	for {
		g.mu.Lock()
		var found []string
		for _, l := range g.logs {
			if strings.Contains(l, needle) && strings.Contains(l, `"msg":"request"`) {
				found = append(found, l)
			}
		}
		g.mu.Unlock()
		switch {
		case len(found) > 1:
			t.Fatalf("%d lines name request %s: %q", len(found), id, found)
		case len(found) == 1:
			return found[0]
		case time.Now().After(deadline):
			t.Fatalf("no access-log line of request %s", id)
		}
		time.Sleep(5 * time.Millisecond) // polls the lines the reader appends
	}
}

// slogsLine is the line slog's JSON handler writes for the fields of line,
// with path (the request's, as sent, before any escaping) as its path: the
// line's time, its fields in its order, numbers as integers.
func slogsLine(t *testing.T, line, path string) string {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil { // {
		t.Fatal(err)
	}
	var at time.Time
	var attrs []slog.Attr
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		key := tok.(string)
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatal(err)
		}
		switch {
		case key == "time":
			if at, err = time.Parse(time.RFC3339Nano, v.(string)); err != nil {
				t.Fatal(err)
			}
		case key == "level" || key == "msg":
		case key == "path":
			attrs = append(attrs, slog.String(key, path))
		default:
			switch v := v.(type) {
			case json.Number:
				n, err := v.Int64()
				if err != nil {
					t.Fatalf("%s: %v", key, err)
				}
				attrs = append(attrs, slog.Int64(key, n))
			case bool:
				attrs = append(attrs, slog.Bool(key, v))
			case string:
				attrs = append(attrs, slog.String(key, v))
			default:
				t.Fatalf("%s: a %T in the line", key, v)
			}
		}
	}
	var buf bytes.Buffer
	rd := slog.NewRecord(at, slog.LevelInfo, "request", 0)
	rd.AddAttrs(attrs...)
	if err := slog.NewJSONHandler(&buf, nil).Handle(context.Background(), rd); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}
