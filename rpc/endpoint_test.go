package rpc_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/rpc"
)

func TestValidateEndpoint(t *testing.T) {
	tests := []struct {
		endpoint string
		ok       bool
	}{
		{"Greeter.Hello", true},
		{"greeter.hello", true},
		{"G.H", true},
		{"Greeter2.Hello_World", true},
		{"A_1.b2_", true},
		{strings.Repeat("a", 128) + ".b", true},
		{strings.Repeat("a", 129) + ".b", false},
		{"", false},
		{".", false},
		{"Greeter", false},
		{"Greeter.", false},
		{".Hello", false},
		{"Greeter.Hello.World", false},
		{"Greeter/Hello", false},
		{"1Greeter.Hello", false},
		{"Greeter._Hello", false},
		{"Greeter.Hel-lo", false},
		{"Greeter.Hello ", false},
		{"Grüß.Hello", false},
		{"Greeter.Hello\x00", false},
	}
	for _, tt := range tests {
		err := rpc.ValidateEndpoint(tt.endpoint)
		if tt.ok && err != nil {
			t.Errorf("ValidateEndpoint(%q) = %v, want nil", tt.endpoint, err)
		}
		if !tt.ok && !errors.Is(err, rpc.ErrBadEndpoint) {
			t.Errorf("ValidateEndpoint(%q) = %v, want ErrBadEndpoint", tt.endpoint, err)
		}
	}
}

func TestPath(t *testing.T) {
	if got := rpc.Path("Greeter.Hello"); got != "/rpc/Greeter.Hello" {
		t.Fatalf("Path = %q", got)
	}
}
