package main

import (
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/config"
)

// A web page the operator opens can have its name resolve to 127.0.0.1
// (DNS rebinding) and read the admin listener as its own origin. Its
// requests name its host, which no scraper, probe or curl of the admin
// listener does: the listener refuses them, on every path but the health
// checks, and answers addresses, localhost and the names it lists.
func TestAPageRebindingItsNameToTheAdminListenerReadsNothing(t *testing.T) {
	backend := echoBackend(t)
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	text := strings.Replace(configText(backend, "  - {path: /v1, service: svc}\n"),
		`admin: {address: "127.0.0.1:0"}`, `admin: {address: "127.0.0.1:0", hosts: [gateway, Sluice-Admin.internal.]}`, 1)
	writeFile(t, path, text)
	g := runGateway(t, "-config", path)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(g.admin, "http://"))

	get := func(host, p string) (int, string) {
		t.Helper()
		req, err := http.NewRequest("GET", g.admin+p, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := g.client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type") + " " + string(b)
	}
	for _, host := range []string{"attacker.example:" + port, "attacker.example", "127.0.0.1.nip.io:" + port,
		"localhost.attacker.example:" + port, "gateway.attacker.example", "sluice-admin.internal.evil"} {
		for _, p := range []string{"/admin/config", "/admin/upstream", "/admin/registry", "/metrics"} {
			code, body := get(host, p)
			if code != http.StatusMisdirectedRequest || !strings.HasPrefix(body, "application/problem+json") {
				t.Errorf("GET %s with Host %s = %d %.80q, want 421 problem+json", p, host, code, body)
			}
		}
		for _, p := range []string{"/healthz", "/readyz"} {
			if code, body := get(host, p); code != http.StatusOK {
				t.Errorf("GET %s with Host %s = %d %.80q, want 200: balancers' health checks may send a name", p, host, code, body)
			}
		}
	}
	for _, host := range []string{"127.0.0.1:" + port, "[::1]:" + port, "localhost:" + port, "LocalHost.:" + port,
		"grafana.localhost:" + port, "gateway:" + port, "GATEWAY", "sluice-admin.internal:" + port, "10.1.2.3", "[fe80::1%25eth0]:" + port} {
		if code, body := get(host, "/admin/config"); code != http.StatusOK {
			t.Errorf("GET /admin/config with Host %s = %d %.80q, want 200", host, code, body)
		}
	}
}

// The names admin.hosts lists are checked at load, with the position of
// the one that is not a name; route listeners refuse the key.
func TestAdminHostsAreCheckedAtLoad(t *testing.T) {
	base := configText("127.0.0.1:1", "  - {path: /v1, service: svc}\n")
	for _, c := range []struct{ from, to, want string }{
		{`admin: {address: "127.0.0.1:0"}`, `admin: {address: "127.0.0.1:0", hosts: [gateway, "gateway:9901"]}`, `admin.hosts[1]`},
		{`admin: {address: "127.0.0.1:0"}`, `admin: {address: "127.0.0.1:0", hosts: ["*.example.com"]}`, `admin.hosts[0]`},
		{`admin: {address: "127.0.0.1:0"}`, `admin: {address: "127.0.0.1:0", hosts: [""]}`, `admin.hosts[0]`},
		{`listeners: [{address: "127.0.0.1:0"}]`, `listeners: [{address: "127.0.0.1:0", hosts: [gateway]}]`, `listeners[0].hosts`},
	} {
		path := filepath.Join(t.TempDir(), "gateway.yaml")
		writeFile(t, path, strings.Replace(base, c.from, c.to, 1))
		_, err := config.Load(path)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "gateway.yaml:") {
			t.Errorf("%s: load error %v, want one at %s naming the file and line", c.to, err, c.want)
		}
	}
	for _, hosts := range []string{`[gateway, my_gateway, "*"]`, `[Gateway.Example.COM.]`} {
		path := filepath.Join(t.TempDir(), "gateway.yaml")
		writeFile(t, path, strings.Replace(base, `admin: {address: "127.0.0.1:0"}`, `admin: {address: "127.0.0.1:0", hosts: `+hosts+`}`, 1))
		if _, err := config.Load(path); err != nil {
			t.Errorf("hosts %s: %v", hosts, err)
		}
	}
}
