package config_test

import (
	"net/netip"
	"strings"
	"testing"
)

func TestAListenersProxyProtocolTrustsItsNetworksOnly(t *testing.T) {
	cfg, err := loadIn(t, t.TempDir(), "listeners:\n  - {address: 127.0.0.1:8080, proxy_protocol: {from: [10.0.0.0/8, \"2001:db8::1\"]}}\n")
	if err != nil {
		t.Fatal(err)
	}
	p := cfg.Listeners[0].ProxyProtocol
	for a, want := range map[string]bool{"10.1.2.3": true, "::ffff:10.1.2.3": true, "2001:db8::1": true, "192.0.2.1": false, "2001:db8::2": false} {
		if got := p.Trusts(netip.MustParseAddr(a)); got != want {
			t.Errorf("Trusts(%s) = %v, want %v", a, got, want)
		}
	}
}

func TestABadProxyProtocolIsRefusedAtItsField(t *testing.T) {
	for yaml, want := range map[string]string{
		"listeners:\n  - {address: 127.0.0.1:8080, proxy_protocol: {}}\n":                 "listeners[0].proxy_protocol.from",
		"listeners:\n  - {address: 127.0.0.1:8080, proxy_protocol: {from: [nonsense]}}\n": "listeners[0].proxy_protocol.from",
		"admin: {address: 127.0.0.1:9090, proxy_protocol: {from: [10.0.0.0/8]}}\n":        "admin.proxy_protocol",
	} {
		_, err := loadIn(t, t.TempDir(), yaml)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: %v, want an error at %s", yaml, err, want)
		}
	}
}
