//go:build linux

package e2e

import (
	"fmt"
	"net"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	eload "github.com/sluicehq/sluice/e2e/internal/load"
)

// TestConsulLeaderKilledUnderLoad runs a 3-server Consul cluster, a gateway
// that reads its configuration from KV and discovers greeters through one
// of the followers, and load through the gateway; then SIGKILLs the leader.
// No request may fail: discovery and the KV watch read stale from the
// follower, and the cache serves its nodes meanwhile. The test measures how
// long after the kill a KV push (retried by `gateway push` until a new
// leader takes it) and a catalog change reach the gateway.
//
// The election takes about a second with the raft_multiplier of 1 the test
// uses; SLUICE_CONSUL_RAFT_MULTIPLIER=5 (Consul's default) shows the
// default's figure.
func TestConsulLeaderKilledUnderLoad(t *testing.T) {
	t.Parallel()
	multiplier := raftMultiplier(t)
	cluster := startConsulCluster(t, 3, multiplier)
	old := cluster.leader(cluster.servers[0])
	if old == nil {
		t.Fatal("no leader")
	}
	var follower *consulServer
	for _, s := range cluster.servers {
		if s != old {
			follower = s
			break
		}
	}
	capi := follower.Client(t)
	dir := t.TempDir()
	v1 := fmt.Sprintf(consulGatewayConfig, follower.Addr())
	if _, err := capi.KV().Put(&api.KVPair{Key: "sluice/config", Value: []byte(v1)}, nil); err != nil {
		t.Fatal(err)
	}
	var greeters []string
	for range 2 {
		p := start(t, "greeter", "-listen", "127.0.0.1:0", "-consul", follower.Addr())
		greeters = append(greeters, p.addr(0))
		p.waitLog(func(l map[string]any) bool { return l["msg"] == "registered" })
	}
	gp := start(t, "gateway", "-config", "consul://"+follower.Addr()+"/sluice/config", "-access-log=false")
	gw := &consulGateway{p: gp, url: "http://" + gp.addr(0), admin: "http://" + gp.addr(1)}
	ld := startLoad(t, gw.url, 50, 2*time.Minute, httpRoute, rpcRoute)
	gw.waitGatewayNodes(t, 2, 30*time.Second)
	ld.WaitServed(t, time.Time{}, 10, 30*time.Second, greeters...)

	// A third greeter, not in Consul yet: the catalog change that shows
	// when discovery works again.
	third := start(t, "greeter", "-listen", "127.0.0.1:0")
	thirdAddr := third.addr(0)
	v2 := v1 + "  - {name: v2, method: GET, path: /v2/*, service: greeter, rewrite: /}\n"
	v2File := filepath.Join(dir, "v2.yaml")
	writeFile(t, v2File, v2)

	killAt := time.Now()
	old.kill(t)
	// A replica started now, without a leader, reads its configuration
	// (stale) and comes up at once.
	late := start(t, "gateway", "-config", "consul://"+follower.Addr()+"/sluice/config", "-access-log=false")
	lateReady := late.waitLog(func(l map[string]any) bool { return l["msg"] == "gateway ready" })
	lateStart := logTime(t, lateReady).Sub(killAt)

	pushed := make(chan time.Duration, 1)
	go func() {
		out, err := exec.Command(filepath.Join(binDir, "gateway"), "push", v2File, "-consul", follower.Addr(),
			"-key", "sluice/config", "-timeout", "60s").CombinedOutput()
		if err != nil {
			t.Errorf("push during the election: %v: %s", err, out)
		}
		pushed <- time.Since(killAt)
	}()
	host, portStr, _ := net.SplitHostPort(thirdAddr)
	port, _ := strconv.Atoi(portStr)
	reg := &api.CatalogRegistration{Node: "sluice-external", Address: host,
		Service: &api.AgentService{ID: "greeter-external", Service: "greeter", Address: host, Port: port}}
	var registered time.Duration
	poll(t, "the catalog to take the third greeter", 90*time.Second, 100*time.Millisecond, func() bool {
		_, err := capi.Catalog().Register(reg, nil)
		registered = time.Since(killAt)
		return err == nil
	})
	var elected time.Duration
	var discoveryErrors []string // what the gateway's cache reported during the election
	eventually(t, "a new leader", 90*time.Second, func() bool {
		if st, ok := gw.greeter(t); ok && st.LastError != "" {
			discoveryErrors = append(discoveryErrors, st.LastError)
		}
		l := cluster.leader(follower)
		elected = time.Since(killAt)
		return l != nil && l != old
	})
	// Stale reads: the follower answered the gateway's discovery all along.
	if len(discoveryErrors) > 0 {
		t.Errorf("the gateway's discovery failed during the election (%d polls), want stale reads answered by the follower: %s",
			len(discoveryErrors), discoveryErrors[0])
	}
	gw.waitGatewayNodes(t, 3, 90*time.Second)
	discovery := time.Since(killAt)
	reloaded := gp.waitLog(func(l map[string]any) bool { return l["msg"] == "configuration reloaded" })
	kvWatch := logTime(t, reloaded).Sub(killAt)
	pushTook := <-pushed
	if g := get(t, gw.url+"/v2/hello/Ada"); g.status != 200 {
		t.Errorf("the route of the version pushed during the election: %d %s", g.status, g.body)
	}
	ld.WaitServed(t, time.Now(), 1, 10*time.Second, thirdAddr)
	waitMore(t, ld, time.Now(), 50, 10*time.Second)
	ld.Stop()

	all := summarize(ld.Hits())
	during := summarize(eload.Between(ld.Hits(), killAt, killAt.Add(discovery)))
	t.Logf("leader SIGKILLed (raft_multiplier %d): new leader seen %s after the kill; catalog write accepted at %s; push done at %s; a replica started after the kill was ready at %s",
		multiplier, elected.Round(time.Millisecond), registered.Round(time.Millisecond), pushTook.Round(time.Millisecond), lateStart.Round(time.Millisecond))
	// (Whether it came up before the new leader depends on how fast the
	// machine starts a process against how fast Consul elects: a figure,
	// not asserted. That the start reads stale is config/source's test.)
	t.Logf("| consul leader kill, raft_multiplier %d | election %s | kv watch applied %s | discovery saw the change %s | requests %d (%d during recovery), failed %d |",
		multiplier, elected.Round(time.Millisecond), kvWatch.Round(time.Millisecond), discovery.Round(time.Millisecond),
		all.total, during.total, all.failed(httpRoute)+all.failed(rpcRoute))
	all.mustNotFail(t, "leader kill", httpRoute, rpcRoute)
	// Stale reads: the follower answered the gateway's KV watch all along.
	var watchErrors string
	for _, line := range strings.Split(string(get(t, gw.admin+"/metrics").body), "\n") {
		if v, ok := strings.CutPrefix(line, "sluice_config_watch_errors_total "); ok {
			watchErrors = v
		}
	}
	if watchErrors != "0" {
		t.Errorf("sluice_config_watch_errors_total = %q after the election, want 0: the follower answers stale reads without a leader", watchErrors)
	}
	// Recovery is bounded by the election and one back-off step after it:
	// the watches themselves add at most DefaultKVBackoffMax (2 s).
	bound := time.Duration(multiplier)*6*time.Second + 10*time.Second
	if kvWatch > bound || discovery > bound {
		t.Errorf("after the kill, the KV watch applied the push at %s and discovery saw the change at %s, want both within %s", kvWatch, discovery, bound)
	}
	if kvWatch-pushTook > 2*time.Second+time.Second || discovery-registered > 2*time.Second+time.Second {
		t.Errorf("the watches took %s (KV) and %s (discovery) after the writes landed, want within the back-off cap and a margin",
			kvWatch-pushTook, discovery-registered)
	}
}
