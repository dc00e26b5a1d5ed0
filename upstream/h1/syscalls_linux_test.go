package h1

import (
	"bufio"
	"cmp"
	"context"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/sluicehq/sluice/internal/rawio"
)

// TestSyscallsPerRoundTrip counts, with strace, the system calls made on
// the upstream socket by sequential GETs on one kept-alive connection, sent
// by exchange (the default on Linux) and, for comparison, the way a
// connection that is not an Exchanger is used (the pool's probe, the write,
// then reads). The client runs in a child process under strace, the
// backend in this one, so only the client's calls are counted. It skips
// where strace is missing (unless SLUICE_STRACE names it) or cannot trace. See the package doc for the
// numbers and the command to count a whole gateway.
func TestSyscallsPerRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a child process under strace")
	}
	// scripts/test.sh names strace in SLUICE_STRACE: then it must be there.
	strace, err := exec.LookPath(cmp.Or(os.Getenv("SLUICE_STRACE"), "strace"))
	if err != nil {
		if os.Getenv("SLUICE_STRACE") != "" {
			t.Fatalf("SLUICE_STRACE: %v", err)
		}
		t.Skip("strace is not installed")
	}
	url, _ := rawServer(t, keepAlive("HTTP/1.1 200 OK\r\nContent-Length: 12\r\n\r\nhello, world"))
	port := url[strings.LastIndexByte(url, ':')+1:]
	const n = 2000
	counts := map[string]map[string]float64{}
	for _, mode := range []string{"exchange", "probe"} {
		out := filepath.Join(t.TempDir(), "strace.txt")
		cmd := exec.Command(strace, "-f", "-qq", "-yy", "-e", "trace=read,write,sendto,recvfrom,readv,writev",
			"-o", out, os.Args[0], "-test.run=^TestStraceChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "H1_STRACE_URL="+url, "H1_STRACE_MODE="+mode, "H1_STRACE_N="+strconv.Itoa(n))
		if b, err := cmd.CombinedOutput(); err != nil {
			if strings.Contains(string(b), "PTRACE") || strings.Contains(string(b), "ptrace") {
				t.Skipf("strace cannot trace here: %s", b)
			}
			t.Fatalf("%s: %v\n%s", mode, err, b)
		}
		counts[mode] = countUpstream(t, out, port, n)
		t.Logf("%s: per round trip %v", mode, counts[mode])
	}
	x := counts["exchange"]
	reads, wasted := x["read"]+x["recvfrom"], x["read EAGAIN"]+x["recvfrom EAGAIN"]
	if x["total"] > 3.05 || wasted > 0.02 || x["sendto"] < 0.99 || x["sendto"] > 1.01 || x["peek"] < 0.99 || reads < 0.99 {
		t.Errorf("by exchange, %.2f calls per round trip (%.2f peeks, %.2f sendto, %.2f reads, %.2f of them with EAGAIN); want at most 3 (a peek, a send, a read), no read with EAGAIN",
			x["total"], x["peek"], x["sendto"], reads, wasted)
	}
}

// countUpstream reads an strace -f -yy log and returns the calls made on
// sockets connected to port, per round trip of n: by name, in all
// ("total"), and those that failed with EAGAIN by name ("recvfrom EAGAIN").
// A recvfrom with MSG_PEEK is named "peek": one that finds nothing, as it
// should, is a "peek EAGAIN"; rawio's reads are recvfrom calls too.
func countUpstream(t *testing.T, path, port string, n int) map[string]float64 {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	call := regexp.MustCompile(`^(\d+)\s+(\w+)\((\d+)<TCP:\[[^\]]*->127\.0\.0\.1:` + port + `\]>`)
	resumed := regexp.MustCompile(`^(\d+)\s+<\.\.\. (\w+) resumed>`)
	unfinished := map[string]string{} // pid: the upstream call unfinished
	got := map[string]float64{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := call.FindStringSubmatch(line); m != nil {
			if m[2] == "recvfrom" && strings.Contains(line, "MSG_PEEK") {
				m[2] = "peek" // the pool's check, not a read
			}
			got[m[2]]++
			got["total"]++
			if strings.HasSuffix(line, "<unfinished ...>") {
				unfinished[m[1]] = m[2]
			} else if strings.Contains(line, "= -1 EAGAIN") {
				got[m[2]+" EAGAIN"]++
			}
			continue
		}
		if m := resumed.FindStringSubmatch(line); m != nil && unfinished[m[1]] == m[2] {
			delete(unfinished, m[1])
			if strings.Contains(line, "= -1 EAGAIN") {
				got[m[2]+" EAGAIN"]++
			}
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if got["sendto"] == 0 {
		t.Fatal("no send on the upstream socket in the strace log")
	}
	for k := range got {
		got[k] /= float64(n)
	}
	return got
}

// TestStraceChild is TestSyscallsPerRoundTrip's client: it runs only in the
// child process that test starts.
func TestStraceChild(t *testing.T) {
	url := os.Getenv("H1_STRACE_URL")
	if url == "" {
		t.Skip("the child of TestSyscallsPerRoundTrip")
	}
	n, _ := strconv.Atoi(os.Getenv("H1_STRACE_N"))
	tr := &Transport{}
	if os.Getenv("H1_STRACE_MODE") == "probe" {
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := defaultDialer.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return notExchanger{rawio.Wrap(nc)}, nil
		}
	}
	defer tr.CloseIdleConnections()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	for i := 0; i < n; i++ {
		body, err := readResp(tr.RoundTrip(req))
		if err != nil || body != "hello, world" {
			t.Fatalf("%q, %v", body, err)
		}
	}
}

// notExchanger is a rawio connection that is not an Exchanger: the pool
// checks it by its probe, and its round trip writes, then reads.
type notExchanger struct{ net.Conn }

func (c notExchanger) SyscallConn() (syscall.RawConn, error) {
	return c.Conn.(syscall.Conn).SyscallConn()
}
