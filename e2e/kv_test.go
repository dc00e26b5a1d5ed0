package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/consul/api"

	"github.com/sluicehq/sluice/config/source"
	"github.com/sluicehq/sluice/registry/consul/consultest"
)

// kvConfig is a configuration kept in Consul KV: one route, path, to an
// echo backend.
const kvConfig = `listeners: [{address: "127.0.0.1:0"}]
admin: {address: "127.0.0.1:0"}
shutdown_grace: 2s
registry:
  static: [{service: echo, address: "%s"}]
routes:
  - {path: %s, service: echo}
`

// kvReplica is a gateway process reading its configuration from Consul KV.
type kvReplica struct {
	p            *proc
	url, admin   string
	reloadsSeen  int // "configuration reloaded" lines consumed by waitReload
	refusalsSeen int
}

func startKVReplica(t *testing.T, configURL string) *kvReplica {
	t.Helper()
	r := &kvReplica{p: start(t, "gateway", "-config", configURL, "-access-log=false")}
	r.url = "http://" + r.p.addr(0)
	r.admin = "http://" + r.p.addr(1)
	return r
}

// nthLog waits for the n-th (from 1) log line with message msg.
func (r *kvReplica) nthLog(msg string, n int) map[string]any {
	seen := 0
	return r.p.waitLog(func(l map[string]any) bool {
		if l["msg"] == msg {
			seen++
		}
		return seen == n
	})
}

// kvAdmin is the part of GET /admin/config these tests read.
type kvAdmin struct {
	Source  string `json:"source"`
	Applied struct {
		Hash  string `json:"hash"`
		Index uint64 `json:"index"`
	} `json:"applied"`
	Refused *struct {
		Hash  string `json:"hash"`
		Index uint64 `json:"index"`
		Error string `json:"error"`
	} `json:"refused"`
}

func (r *kvReplica) config(t *testing.T) kvAdmin {
	t.Helper()
	var c kvAdmin
	get(t, r.admin+"/admin/config").decode(t, &c)
	return c
}

func (r *kvReplica) metric(t *testing.T, sample string) string {
	t.Helper()
	for _, line := range strings.Split(string(get(t, r.admin+"/metrics").body), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			return v
		}
	}
	return ""
}

func kvEchoServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// pushFile runs `gateway push` and returns its output and error.
func pushFile(t *testing.T, agent, file string) (string, error) {
	t.Helper()
	out, err := exec.Command(filepath.Join(binDir, "gateway"), "push", file, "-consul", agent, "-key", "sluice/config").CombinedOutput()
	return string(out), err
}

func TestKVConfigReachesEveryReplicaAndABadOneIsRefusedByAll(t *testing.T) {
	agent := consultest.Start(t)
	kv := agent.Client().KV()
	echo := kvEchoServer(t)
	dir := t.TempDir()
	v1 := filepath.Join(dir, "v1.yaml")
	writeFile(t, v1, fmt.Sprintf(kvConfig, echo, "/v1"))
	if out, err := pushFile(t, agent.Addr(), v1); err != nil {
		t.Fatalf("push v1: %v: %s", err, out)
	}
	url := "consul://" + agent.Addr() + "/sluice/config"
	var replicas []*kvReplica
	for range 3 {
		replicas = append(replicas, startKVReplica(t, url))
	}
	for i, r := range replicas {
		if g := get(t, r.url+"/v1"); g.status != 200 || string(g.body) != "/v1" {
			t.Fatalf("replica %d: /v1 = %d %q", i, g.status, g.body)
		}
		if c := r.config(t); c.Source != "consul" || c.Applied.Index == 0 {
			t.Fatalf("replica %d: /admin/config = %+v, want consul with an index", i, c)
		}
	}

	// A new version reaches the three within a second of its write.
	v2 := fmt.Sprintf(kvConfig, echo, "/v2")
	before := time.Now()
	if _, err := kv.Put(&api.KVPair{Key: "sluice/config", Value: []byte(v2)}, nil); err != nil {
		t.Fatal(err)
	}
	p, _, err := kv.Get("sluice/config", nil)
	if err != nil || p == nil {
		t.Fatalf("reading the key back: %v", err)
	}
	var slowest time.Duration
	for i, r := range replicas {
		l := r.nthLog("configuration reloaded", 1)
		took := logTime(t, l).Sub(before)
		slowest = max(slowest, took)
		t.Logf("replica %d applied index %v %s after the write", i, l["index"], took.Round(time.Millisecond))
		if l["hash"] != source.Hash([]byte(v2)) {
			t.Errorf("replica %d applied hash %v, want v2's", i, l["hash"])
		}
		if g := get(t, r.url+"/v2"); g.status != 200 || string(g.body) != "/v2" {
			t.Errorf("replica %d: /v2 = %d %q", i, g.status, g.body)
		}
		if c := r.config(t); c.Applied.Index != p.ModifyIndex || c.Applied.Hash != source.Hash([]byte(v2)) {
			t.Errorf("replica %d: /admin/config = %+v, want index %d and v2's hash", i, c, p.ModifyIndex)
		}
		if v := r.metric(t, "sluice_config_index"); v != fmt.Sprint(p.ModifyIndex) {
			t.Errorf("replica %d: sluice_config_index = %q, want %d", i, v, p.ModifyIndex)
		}
	}
	t.Logf("| kv push → 3 replicas | slowest %s |", slowest.Round(time.Millisecond))
	if slowest > time.Second {
		t.Errorf("the slowest replica applied the push %s after the write, want within 1s", slowest)
	}

	// A bad version, written straight to the key (past push's check): each
	// replica refuses it at its line and column and keeps serving v2.
	bad := v2 + "  - {path: /v3, service: echo, budget: {timeout: 5}}\n"
	if _, err := kv.Put(&api.KVPair{Key: "sluice/config", Value: []byte(bad)}, nil); err != nil {
		t.Fatal(err)
	}
	for i, r := range replicas {
		l := r.nthLog("configuration reload failed; the running configuration keeps serving", 1)
		msg, _ := l["error"].(string)
		if !strings.HasPrefix(msg, url+":8:50: routes[1].budget.timeout:") {
			t.Errorf("replica %d logged %q, want the error at %s:8:50", i, msg, url)
		}
		if g := get(t, r.url+"/v2"); g.status != 200 || string(g.body) != "/v2" {
			t.Errorf("replica %d after the refusal: /v2 = %d %q", i, g.status, g.body)
		}
		c := r.config(t)
		if c.Applied.Hash != source.Hash([]byte(v2)) || c.Refused == nil || c.Refused.Error != msg || c.Refused.Hash != source.Hash([]byte(bad)) {
			t.Errorf("replica %d: /admin/config = %+v, want v2 serving and the refusal", i, c)
		}
		if v := r.metric(t, `sluice_config_reloads_total{result="refused",source="consul"}`); v != "1" {
			t.Errorf("replica %d: refused reloads = %q, want 1", i, v)
		}
		if v := r.metric(t, `sluice_config_info{hash="`+source.Hash([]byte(v2))+`",source="consul"}`); v != "1" {
			t.Errorf("replica %d: sluice_config_info of v2 = %q, want 1", i, v)
		}
	}

	// gateway push checks before it writes: the bad file never reaches KV.
	badFile := filepath.Join(dir, "bad.yaml")
	writeFile(t, badFile, bad)
	out, err := pushFile(t, agent.Addr(), badFile)
	if err == nil || !strings.Contains(out, badFile+":8:50: routes[1].budget.timeout:") {
		t.Errorf("push of the bad file = %v: %s; want exit 1 naming %s:8:50", err, out, badFile)
	}
}
