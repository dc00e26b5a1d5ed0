package hostile

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// A page the operator opens can rebind its own name to the admin
// listener's address and read it through the browser (DNS rebinding): its
// requests name its host. The gateway with its defaults answers them 421,
// on every admin path but the health checks, and answers its address.
func TestARebindingPageReadsNothingFromTheAdminListener(t *testing.T) {
	var b strings.Builder
	gatewayYAML(&b, "sluice", time.Second)
	b.WriteString("registry:\n  kind: static\n  static:\n    - {service: svc, id: svc-1, address: \"127.0.0.1:1\"}\n")
	b.WriteString("routes:\n  - {name: svc, method: GET, path: /svc/*, service: svc}\n")
	_, addrs := startWith(t, b.String())
	admin := addrs[1]
	_, port, _ := strings.Cut(admin, ":")
	for _, c := range []struct {
		host, path string
		want       int
	}{
		{"rebind.attacker.example:" + port, "/admin/config", http.StatusMisdirectedRequest},
		{"rebind.attacker.example:" + port, "/admin/registry", http.StatusMisdirectedRequest},
		{"rebind.attacker.example:" + port, "/admin/upstream", http.StatusMisdirectedRequest},
		{"rebind.attacker.example:" + port, "/metrics", http.StatusMisdirectedRequest},
		{"rebind.attacker.example:" + port, "/healthz", http.StatusOK},
		{"127.0.0.1:" + port, "/admin/config", http.StatusOK},
		{"localhost:" + port, "/metrics", http.StatusOK},
	} {
		x := send(t, admin, fmt.Sprintf("GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", c.path, c.host))
		if len(x.answers) != 1 || x.answers[0].status() != c.want {
			t.Errorf("GET %s with Host %s: %s, want %d", c.path, c.host, x, c.want)
		}
	}
}
