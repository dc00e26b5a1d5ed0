package e2e

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// demoPorts are the loopback ports of the embedded default and the example
// services, which scripts/demo.sh starts. They lie below the ephemeral range
// that every other test's ":0" listeners come from.
var demoPorts = []string{"8080", "9901", "9101", "9102", "9103", "9104"}

// TestDemoScript runs the README's first command, scripts/demo.sh, as a user
// would, and tries every curl line it prints: each must give the answer the
// README describes. Then Ctrl-C (SIGINT to the script's process group) must
// stop everything it started, leaving no port held. It exists because the
// README promises that command works from a fresh clone every time, and
// nothing else runs the script.
func TestDemoScript(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the demo")
	}
	for _, port := range demoPorts {
		if l, err := net.Listen("tcp", "127.0.0.1:"+port); err != nil {
			t.Fatalf("port %s is taken (is the demo already running?): %v", port, err)
		} else {
			l.Close()
		}
	}
	cmd := exec.Command("bash", "../scripts/demo.sh")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	t.Cleanup(func() {
		// Whatever happened, nothing the script started outlives the test.
		syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
		}
	})
	lines := readDemoBanner(t, stdout, 5*time.Minute)
	go func() { io.Copy(io.Discard, stdout); exited <- cmd.Wait() }()
	if lines == nil {
		t.Fatalf("the demo did not print its banner; stderr:\n%s", stderr.String())
	}

	seen := map[string]bool{}
	for _, line := range lines {
		c, err := parseCurl(line)
		if err != nil {
			t.Errorf("%s: %v", line, err)
			continue
		}
		key := c.key()
		check, ok := demoChecks[key]
		if !ok || seen[key] {
			t.Errorf("the demo prints a line this test does not check: %s", line)
			continue
		}
		seen[key] = true
		t.Run(key, func(t *testing.T) { check(t, c.do(t)) })
	}
	for key := range demoChecks {
		if !seen[key] {
			t.Errorf("the demo no longer prints a curl line for %s", key)
		}
	}

	// Ctrl-C reaches the foreground process group.
	syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the demo did not stop within 30 s of Ctrl-C")
	}
	for _, port := range demoPorts {
		waitPortFree(t, port)
	}
}

// readDemoBanner reads the script's output up to "Press Ctrl-C to stop." and
// returns its curl lines, or nil if the output ended first or took longer
// than wait (the script builds five binaries first).
func readDemoBanner(t *testing.T, r io.Reader, wait time.Duration) []string {
	t.Helper()
	found := make(chan []string, 1)
	go func() {
		var curls []string
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if strings.HasPrefix(line, "curl ") {
				curls = append(curls, line)
			}
			if strings.HasPrefix(line, "Press Ctrl-C") {
				found <- curls
				return
			}
		}
		found <- nil
	}()
	select {
	case lines := <-found:
		return lines
	case <-time.After(wait):
		return nil
	}
}

// curl is one of the banner's curl lines: what to send, and whether its
// output is piped through grep (the metrics line).
type curl struct {
	url    string
	header http.Header
	body   string
	grep   string
}

// parseCurl reads the banner's shell words: curl's -s, -H 'K: V' and
// -d '...', one URL, and an optional "| grep WORD".
func parseCurl(line string) (*curl, error) {
	words, err := shellWords(line)
	if err != nil {
		return nil, err
	}
	c := &curl{header: http.Header{}}
	for i := 1; i < len(words); i++ {
		switch w := words[i]; {
		case w == "-s":
		case (w == "-H" || w == "-d") && i+1 < len(words):
			i++
			if w == "-d" {
				c.body = words[i]
				break
			}
			k, v, ok := strings.Cut(words[i], ":")
			if !ok {
				return nil, errors.New("a header without a colon")
			}
			c.header.Add(k, strings.TrimSpace(v))
		case w == "|" && i+2 < len(words) && words[i+1] == "grep":
			c.grep = words[i+2]
			i += 2
		case strings.HasPrefix(w, "http://") && c.url == "":
			c.url = w
		default:
			return nil, errors.New("a word this test does not know: " + w)
		}
	}
	if c.url == "" {
		return nil, errors.New("no URL")
	}
	return c, nil
}

// shellWords splits a line into words, with single quotes as the banner
// uses them.
func shellWords(line string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord, quoted := false, false
	for _, r := range line {
		switch {
		case quoted && r == '\'':
			quoted = false
		case quoted:
			cur.WriteRune(r)
		case r == '\'':
			quoted, inWord = true, true
		case r == ' ':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		return nil, errors.New("an unclosed quote")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// demoAnswer is what a curl line gave.
type demoAnswer struct {
	status int
	ctype  string
	body   string
}

// key names the line in demoChecks: its URL, after the budget it asks
// for, if any.
func (c *curl) key() string {
	if b := c.header.Get("Sluice-Budget"); b != "" {
		return b + " " + c.url
	}
	return c.url
}

func (c *curl) do(t *testing.T) demoAnswer {
	t.Helper()
	method, body := "GET", io.Reader(nil)
	if c.body != "" {
		method, body = "POST", strings.NewReader(c.body)
	}
	req, err := http.NewRequest(method, c.url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header = c.header
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if c.grep != "" {
		var kept []string
		for _, l := range strings.Split(text, "\n") {
			if strings.Contains(l, c.grep) {
				kept = append(kept, l)
			}
		}
		text = strings.Join(kept, "\n")
	}
	return demoAnswer{resp.StatusCode, resp.Header.Get("Content-Type"), text}
}

// demoChecks holds, by URL, what the README says each banner line shows.
var demoChecks = map[string]func(*testing.T, demoAnswer){
	"http://127.0.0.1:8080/greet/Ada": greetsAda,
	"http://127.0.0.1:8080/orders/widget": func(t *testing.T, a demoAnswer) {
		wantStatus(t, a, 200)
		wantHops(t, a, 3, 0, 3000) // the route's timeout
	},
	"ms=200 http://127.0.0.1:8080/orders/widget?slow=1s": func(t *testing.T, a demoAnswer) {
		wantStatus(t, a, 504)
		// Not pricing's answer a second later: the budget ended the call.
		wantProblem(t, a, "urn:sluice:problem:budget-spent")
	},
	"ms=60000 http://127.0.0.1:8080/orders/widget": func(t *testing.T, a demoAnswer) {
		wantStatus(t, a, 200)
		wantHops(t, a, 3, 3000, 5000) // raised past the timeout, clamped to the max
	},
	"ms=10 http://127.0.0.1:8080/orders/widget": func(t *testing.T, a demoAnswer) {
		wantStatus(t, a, 504)
		wantProblem(t, a, "urn:sluice:problem:budget-too-low")
	},
	"http://127.0.0.1:8080/greeter/hello/Ada": greetsAda,
	"http://127.0.0.1:9101/rpc/Greeter.Hello": greetsAda,
	"http://127.0.0.1:9901/metrics": func(t *testing.T, a demoAnswer) {
		wantStatus(t, a, 200)
		// The lines above went through the greet route.
		for _, l := range strings.Split(a.body, "\n") {
			if strings.HasPrefix(l, "sluice_requests_total{") && strings.Contains(l, `route="greet"`) {
				return
			}
		}
		t.Errorf("the gateway's metrics count no request on the greet route:\n%s", a.body)
	},
}

func greetsAda(t *testing.T, a demoAnswer) {
	t.Helper()
	wantStatus(t, a, 200)
	if !strings.Contains(a.body, "Ada") {
		t.Errorf("the greeting does not name Ada: %s", a.body)
	}
}

func wantStatus(t *testing.T, a demoAnswer, code int) {
	t.Helper()
	if a.status != code {
		t.Errorf("status %d, want %d: %s", a.status, code, a.body)
	}
}

func wantProblem(t *testing.T, a demoAnswer, typ string) {
	t.Helper()
	var p struct{ Type string }
	if a.ctype != "application/problem+json" || json.Unmarshal([]byte(a.body), &p) != nil || p.Type != typ {
		t.Errorf("answer %q (%s), want a problem of type %s", a.body, a.ctype, typ)
	}
}

// wantHops checks the chain's answer: one budget per hop, each received
// within max milliseconds, the first above min.
func wantHops(t *testing.T, a demoAnswer, hops int, min, max float64) {
	t.Helper()
	var v struct {
		Budgets []struct {
			Service  string
			Received float64 `json:"received_ms"`
			Hop      int
		}
	}
	if err := json.Unmarshal([]byte(a.body), &v); err != nil {
		t.Fatalf("the chain's answer: %v: %s", err, a.body)
	}
	if len(v.Budgets) != hops {
		t.Fatalf("%d hops reported, want %d: %s", len(v.Budgets), hops, a.body)
	}
	for i, b := range v.Budgets {
		if b.Hop != i+1 || b.Received <= 0 || b.Received > max {
			t.Errorf("hop %d (%s) received %v ms, want 0 < ms <= %v", b.Hop, b.Service, b.Received, max)
		}
	}
	if v.Budgets[0].Received <= min {
		t.Errorf("the first hop received %v ms, want more than %v", v.Budgets[0].Received, min)
	}
}

// waitPortFree waits, bounded, until port on loopback can be listened on
// again: the processes the demo started have exited.
func waitPortFree(t *testing.T, port string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := net.Listen("tcp", "127.0.0.1:"+port)
		if err == nil {
			l.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("port %s still held 10 s after the demo stopped: %v", port, err)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
