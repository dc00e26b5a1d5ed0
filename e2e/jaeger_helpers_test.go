package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/testbin"
)

// jaegerStartTimeout bounds how long a Jaeger all-in-one may take to serve
// its query API; jaegerTraceTimeout how long a trace may take to arrive
// whole. Both are generous: a loaded machine must not fail a correct test.
const (
	jaegerStartTimeout = 60 * time.Second
	jaegerTraceTimeout = 60 * time.Second
)

// jaegerConfig keeps the all-in-one to what the tests use, every port on
// loopback and chosen by the test: OTLP over gRPC and HTTP, in-memory
// storage, the query API. The embedded all-in-one configuration would take
// a dozen fixed ports.
const jaegerConfig = `
service:
  extensions: [jaeger_storage, jaeger_query]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: info
extensions:
  jaeger_storage:
    backends:
      mem:
        memory:
          max_traces: 10000
  jaeger_query:
    enable_tracing: false # its own spans would go to 127.0.0.1:4317, whoever listens there
    storage:
      traces: mem
    http:
      endpoint: %s
    grpc:
      endpoint: %s
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: %s
      http:
        endpoint: %s
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: mem
`

// jaeger is a Jaeger all-in-one process owned by one test.
type jaeger struct {
	otlpHTTP, otlpGRPC, query string // host:port each
}

// jaegerProgram is the all-in-one scripts/jaeger.sh builds (cached), which
// scripts/test.sh names in SLUICE_JAEGER.
var jaegerProgram = testbin.Program{
	Name:   "jaeger",
	Env:    "SLUICE_JAEGER",
	Script: "scripts/jaeger.sh",
	Hint:   "run scripts/jaeger.sh build (about 9 minutes the first time)",
}

// jaegerBinary returns the Jaeger binary; see package testbin for when a
// missing one fails the test.
func jaegerBinary(t *testing.T) string {
	t.Helper()
	return jaegerProgram.Find(t)
}

// startJaeger runs a Jaeger all-in-one on free loopback ports and waits
// until its query API answers and its OTLP receivers accept. It is killed
// when the test ends.
func startJaeger(t *testing.T) *jaeger {
	t.Helper()
	bin := jaegerBinary(t)
	// Its four ports are picked at once, so that no two are the same (see
	// testbin.FreePorts).
	addrs := make([]string, 4)
	for i, p := range testbin.FreePorts(t, len(addrs)) {
		addrs[i] = net.JoinHostPort("127.0.0.1", strconv.Itoa(p))
	}
	j := &jaeger{otlpHTTP: addrs[0], otlpGRPC: addrs[1], query: addrs[2]}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "jaeger.yaml")
	writeFile(t, cfg, fmt.Sprintf(jaegerConfig, j.query, addrs[3], j.otlpGRPC, j.otlpHTTP))
	logFile, err := os.Create(filepath.Join(dir, "jaeger.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", cfg)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // no leak if the test binary dies
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting jaeger: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		logFile.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logFile.Name()); err == nil {
				t.Logf("jaeger log:\n%s", tail(string(b), 40))
			}
		}
	})
	deadline := time.Now().Add(jaegerStartTimeout)
	for {
		select {
		case <-done:
			b, _ := os.ReadFile(logFile.Name())
			t.Fatalf("jaeger exited during start:\n%s", tail(string(b), 40))
		default:
		}
		if jaegerReady(j) {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("jaeger did not serve within %v", jaegerStartTimeout)
		}
		time.Sleep(50 * time.Millisecond) // polls a condition; bounded by the deadline
	}
}

func jaegerReady(j *jaeger) bool {
	resp, err := http.Get("http://" + j.query + "/api/services")
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	for _, a := range []string{j.otlpHTTP, j.otlpGRPC} {
		c, err := net.DialTimeout("tcp", a, time.Second)
		if err != nil {
			return false
		}
		c.Close()
	}
	return true
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// jaegerSpan is a span as Jaeger's query API returns it, its tags by key.
type jaegerSpan struct {
	SpanID        string `json:"spanID"`
	OperationName string `json:"operationName"`
	References    []struct {
		RefType string `json:"refType"`
		SpanID  string `json:"spanID"`
	} `json:"references"`
	RawTags []struct {
		Key   string `json:"key"`
		Value any    `json:"value"`
	} `json:"tags"`
	ProcessID string `json:"processID"`

	Service string
	Tags    map[string]any
}

// parent returns the span's CHILD_OF reference, or "".
func (s *jaegerSpan) parent() string {
	for _, r := range s.References {
		if r.RefType == "CHILD_OF" {
			return r.SpanID
		}
	}
	return ""
}

// num returns a numeric tag, or -1 when it is absent.
func (s *jaegerSpan) num(key string) float64 {
	if v, ok := s.Tags[key].(float64); ok {
		return v
	}
	return -1
}

// waitTrace polls Jaeger's query API for trace id until it holds at least
// want spans, and returns them.
func (j *jaeger) waitTrace(t *testing.T, id string, want int) []*jaegerSpan {
	t.Helper()
	deadline := time.Now().Add(jaegerTraceTimeout)
	var spans []*jaegerSpan
	for {
		spans = j.trace(t, id)
		if len(spans) >= want {
			return spans
		}
		if time.Now().After(deadline) {
			for _, s := range spans {
				t.Logf("span %s %s/%s parent %s tags %v", s.SpanID, s.Service, s.OperationName, s.parent(), s.Tags)
			}
			t.Fatalf("trace %s has %d spans after %v, want %d", id, len(spans), jaegerTraceTimeout, want)
		}
		time.Sleep(100 * time.Millisecond) // polls a condition; bounded by the deadline
	}
}

func (j *jaeger) trace(t *testing.T, id string) []*jaegerSpan {
	t.Helper()
	resp, err := http.Get("http://" + j.query + "/api/traces/" + id)
	if err != nil {
		t.Fatalf("jaeger query: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return nil // not arrived yet
	}
	var body struct {
		Data []struct {
			Spans     []*jaegerSpan `json:"spans"`
			Processes map[string]struct {
				ServiceName string `json:"serviceName"`
			} `json:"processes"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("jaeger query: status %d: %v", resp.StatusCode, err)
	}
	var spans []*jaegerSpan
	for _, d := range body.Data {
		for _, s := range d.Spans {
			s.Service = d.Processes[s.ProcessID].ServiceName
			s.Tags = make(map[string]any, len(s.RawTags))
			for _, tag := range s.RawTags {
				s.Tags[tag.Key] = tag.Value
			}
			spans = append(spans, s)
		}
	}
	return spans
}
