package config

import (
	"strings"
	"testing"
)

// TestRoutesAnsweredByTheGatewayAreCheckedAtTheirField: a route that
// redirects or responds names no service, and its mistakes are refused
// at their field.
func TestRoutesAnsweredByTheGatewayAreCheckedAtTheirField(t *testing.T) {
	static := "registry:\n  static:\n    - {service: s, address: 127.0.0.1:1}\nroutes:\n"
	tests := []struct{ name, route, want string }{
		{"service and redirect", "  - {path: /a, service: s, redirect: {to: /b}}\n", "gateway.yaml:5:38: routes[0].redirect: a route that the gateway answers itself has no service"},
		{"neither", "  - {path: /a}\n", "routes[0].service: a route needs a service, a redirect or a respond"},
		{"another host by slashes", "  - path: /a\n    redirect: {to: //evil.example/}\n", "gateway.yaml:6:15: routes[0].redirect: to \"//evil.example/\" is neither"},
		{"status", "  - {path: /a, redirect: {to: /b, status: 200}}\n", "routes[0].redirect: status 200 is no redirect"},
		{"respond status", "  - {path: /a, respond: {status: 99}}\n", "routes[0].respond: status 99"},
	}
	for _, tt := range tests {
		_, err := Parse("gateway.yaml", []byte(static+tt.route))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want it to contain %q", tt.name, err, tt.want)
		}
	}
	c, err := Parse("gateway.yaml", []byte(static+"  - {path: /old/*, redirect: {to: \"https://new.example/\", status: 308}}\n"+
		"  - {path: /robots.txt, respond: {body: \"User-agent: *\"}}\n  - {path: /api, service: s}\n"))
	if err != nil {
		t.Fatal(err)
	}
	rs := c.RouterRoutes()
	if d := rs[0].Redirect; d == nil || d.To != "https://new.example/" || d.Status != 308 || rs[0].Service != "" {
		t.Errorf("route 0: %+v", rs[0])
	}
	if a := rs[1].Respond; a == nil || a.Body != "User-agent: *" || a.Status != 0 {
		t.Errorf("route 1: %+v", rs[1])
	}
}
