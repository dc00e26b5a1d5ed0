package registry_test

import (
	"errors"
	"testing"

	"github.com/sluicehq/sluice/registry"
)

func TestNodeValidate(t *testing.T) {
	tests := []struct {
		name    string
		service string
		address string
		ok      bool
	}{
		{"ipv4", "svc", "127.0.0.1:8080", true},
		{"hostname", "svc", "billing.internal:80", true},
		{"bracketed ipv6", "svc", "[::1]:9000", true},
		{"highest port", "svc", "h:65535", true},
		{"lowest port", "svc", "h:1", true},
		{"no service", "", "127.0.0.1:8080", false},
		{"empty address", "svc", "", false},
		{"no port", "svc", "127.0.0.1", false},
		{"empty port", "svc", "127.0.0.1:", false},
		{"no host", "svc", ":8080", false},
		{"port zero", "svc", "h:0", false},
		{"port too high", "svc", "h:65536", false},
		{"named port", "svc", "h:http", false},
		{"negative port", "svc", "h:-80", false},
		{"signed port", "svc", "h:+80", false},
		{"unbracketed ipv6", "svc", "::1", false},
		{"unbracketed ipv6 with port", "svc", "fe80::1:8080", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := &registry.Node{Service: tt.service, Address: tt.address}
			err := n.Validate()
			if tt.ok {
				if err != nil {
					t.Fatalf("Validate(%q) = %v, want nil", tt.address, err)
				}
				return
			}
			if !errors.Is(err, registry.ErrInvalidNode) {
				t.Fatalf("Validate(%q) = %v, want an error wrapping ErrInvalidNode", tt.address, err)
			}
		})
	}
}

func TestNodeSame(t *testing.T) {
	a := &registry.Node{Service: "svc", ID: "a", Address: "10.0.0.1:80", Version: "1.0.0"}
	tests := []struct {
		name string
		o    *registry.Node
		want bool
	}{
		{"same pointer", a, true},
		{"equal identity in another snapshot", &registry.Node{Service: "svc", ID: "a", Address: "10.0.0.1:80"}, true},
		{"other version, same instance", &registry.Node{Service: "svc", ID: "a", Address: "10.0.0.1:80", Version: "2.0.0"}, true},
		{"other ID", &registry.Node{Service: "svc", ID: "b", Address: "10.0.0.1:80"}, false},
		{"other address", &registry.Node{Service: "svc", ID: "a", Address: "10.0.0.2:80"}, false},
		{"other service", &registry.Node{Service: "other", ID: "a", Address: "10.0.0.1:80"}, false},
		{"no ID", &registry.Node{Service: "svc", Address: "10.0.0.1:80"}, false},
		{"other labels, no start mark", &registry.Node{Service: "svc", ID: "a", Address: "10.0.0.1:80",
			Metadata: map[string]string{"zone": "b"}}, true},
		{"a start mark where there was none: restarted", &registry.Node{Service: "svc", ID: "a", Address: "10.0.0.1:80",
			Metadata: map[string]string{registry.MetaInstance: "7f3a"}}, false},
	}
	marked := func(mark string) *registry.Node {
		return &registry.Node{Service: "svc", ID: "a", Address: "10.0.0.1:80", Metadata: map[string]string{registry.MetaInstance: mark}}
	}
	if !marked("1").Same(marked("1")) || marked("1").Same(marked("2")) {
		t.Fatal("Same must compare the start marks: equal marks, same instance; other marks, a restart")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := a.Same(tt.o); got != tt.want {
				t.Fatalf("Same = %v, want %v", got, tt.want)
			}
			if got := tt.o.Same(a); got != tt.want {
				t.Fatalf("Same is not symmetric: %v", got)
			}
		})
	}
}

func TestNodeKey(t *testing.T) {
	tests := []struct {
		n    registry.Node
		want string
	}{
		{registry.Node{Service: "svc", ID: "a", Address: "10.0.0.1:80"}, "svc/a@10.0.0.1:80"},
		{registry.Node{Service: "svc", Address: "10.0.0.1:80"}, "svc/10.0.0.1:80@10.0.0.1:80"},
	}
	for _, tt := range tests {
		if got := tt.n.Key(); got != tt.want {
			t.Errorf("Key() = %q, want %q", got, tt.want)
		}
	}
}
