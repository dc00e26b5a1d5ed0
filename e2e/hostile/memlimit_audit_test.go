package hostile

import (
	"fmt"
	"io"
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
)

// The memory-pressure audit: a flood that the gateway's bounds hold to a
// live heap of about 200 MiB (thousands of connections, each stalled in the
// middle of an RPC body, the bodies held filling their budget) must not
// kill a gateway whose container has 384 MiB. At the gateway's GC target
// (400) the heap grew to five times what was live before a collection, and
// the kernel killed the gateway at about 1,400 such clients; the gateway now
// sets the runtime's memory limit to 90 % of its container's, so the
// collector runs as the heap nears it.

// memoryCgroup makes a memory cgroup of limit bytes for the test, and
// returns the file a process writes its pid to in order to join it, and a
// function that reports how many processes the kernel killed in it for want
// of memory. It skips the test where no memory cgroup can be made (not
// root, or no memory controller to write to).
func memoryCgroup(t *testing.T, limit int64) (procs string, ooms func() int) {
	t.Helper()
	name := fmt.Sprintf("sluice-hostile-%d", os.Getpid())
	v1 := "/sys/fs/cgroup/memory"
	if dir := filepath.Join(v1, name); os.Mkdir(dir, 0o755) == nil {
		t.Cleanup(func() { removeCgroup(t, dir) })
		if err := os.WriteFile(filepath.Join(dir, "memory.limit_in_bytes"), []byte(strconv.FormatInt(limit, 10)), 0o644); err != nil {
			t.Fatal(err)
		}
		return filepath.Join(dir, "cgroup.procs"), func() int { return cgroupCount(t, filepath.Join(dir, "memory.oom_control"), "oom_kill") }
	}
	v2 := "/sys/fs/cgroup"
	if ctl, err := os.ReadFile(filepath.Join(v2, "cgroup.subtree_control")); err == nil && strings.Contains(string(ctl), "memory") {
		dir := filepath.Join(v2, name)
		if os.Mkdir(dir, 0o755) == nil {
			t.Cleanup(func() { removeCgroup(t, dir) })
			if err := os.WriteFile(filepath.Join(dir, "memory.max"), []byte(strconv.FormatInt(limit, 10)), 0o644); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(dir, "cgroup.procs"), func() int { return cgroupCount(t, filepath.Join(dir, "memory.events"), "oom_kill") }
		}
	}
	t.Skip("no memory cgroup can be made here (the audit needs root and a memory controller)")
	return "", nil
}

// cgroupCount reads the counter key of a cgroup file of "key value" lines.
func cgroupCount(t *testing.T, file, key string) int {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(data)) {
		if f := strings.Fields(line); len(f) == 2 && f[0] == key {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	t.Fatalf("%s has no %s", file, key)
	return 0
}

// removeCgroup removes a cgroup once the processes in it are gone.
func removeCgroup(t *testing.T, dir string) {
	deadline := time.Now().Add(hangLimit)
	for os.Remove(dir) != nil {
		if time.Now().After(deadline) {
			t.Errorf("removing the cgroup %s: still busy after %v", dir, hangLimit)
			return
		}
		time.Sleep(10 * time.Millisecond) // the killed gateway's exit
	}
}

// TestAFloodInAContainerDoesNotKillTheGateway runs the gateway, with the
// defaults, in a memory cgroup of 384 MiB, and 2,500 clients that each send
// 900 KiB of a 1 MB body to an RPC route and stall (from 16 addresses, each
// within its bound of connections; the route's budget and the body idle
// timeout are raised so that they stall for the whole test). Those past the
// held bodies' budget are answered 503. The gateway must still be alive, and
// answer, when every client is in, and the kernel must have killed nothing.
func TestAFloodInAContainerDoesNotKillTheGateway(t *testing.T) {
	const clients = 2500
	// The gateway's bound of client connections is half its descriptor
	// limit (Go raises the soft limit to the hard one), and this process
	// holds the other ends.
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Max < 2*clients+1000 {
		t.Skipf("%d clients need a descriptor limit of %d at least, not %d (%v)", clients, 2*clients+1000, lim.Max, err)
	}
	procs, ooms := memoryCgroup(t, 384<<20)
	file := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(file, []byte(stalledBodiesYAML(newEchoBackend(t), false)), 0o600); err != nil {
		t.Fatal(err)
	}
	// The shell joins the cgroup, then becomes the gateway.
	cmd := exec.Command("sh", "-c", `echo $$ > "$1" && exec "$2" -config "$3" -access-log=false`, "sh", procs, gatewayBin, file)
	g, addrs := runGateway(t, cmd, 2)

	const declared, sent = 1000000, 900 << 10
	part := fmt.Sprintf("POST /rpc HTTP/1.1\r\nHost: gw\r\nContent-Length: %d\r\n\r\n", declared) + strings.Repeat(" ", sent)
	conns := make([]net.Conn, 0, clients)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range clients {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 4, byte(1+i%16))}, Timeout: hangLimit}
		c, err := d.Dial("tcp", addrs[0])
		if err != nil {
			select {
			case <-g.done:
				t.Fatalf("the gateway ended (the kernel killed %d processes in its cgroup) as client %d came in: %v", ooms(), i, err)
			case <-time.After(time.Second): // its exit, if it is ending
			}
			t.Fatalf("client %d: %v", i, err)
		}
		conns = append(conns, c)
		go func() {
			c.SetWriteDeadline(time.Now().Add(4 * hangLimit))
			io.WriteString(c, part) // fails once the gateway answers and closes; the count below tells
		}()
	}
	// Every client but the ones whose bodies fill the budget is refused;
	// the bodies held stay in the gateway's memory.
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(3 * hangLimit)
		for {
			select {
			case <-g.done:
				t.Fatalf("the gateway ended (the kernel killed %d processes in its cgroup) while %s", ooms(), what)
			default:
			}
			if cond() {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: not after %v", what, 3*hangLimit)
			}
			time.Sleep(50 * time.Millisecond) // polling the gateway's state
		}
	}
	waitFor("the clients came in", func() bool {
		return metricAt(t, addrs[1], "sluice_held_body_refused_total", "") >= clients-200
	})
	if n := ooms(); n != 0 {
		t.Fatalf("the kernel killed %d processes in the gateway's cgroup", n)
	}
	resp, err := (&http.Client{Timeout: hangLimit}).Get("http://" + addrs[0] + "/healthz")
	if err != nil {
		t.Fatalf("the gateway after the flood: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/healthz after the flood: %d", resp.StatusCode)
	}
}
