package config_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/config"
)

// TestMaxBackendHeaderBytes: limits.max_backend_header_bytes is read, zero
// when left out (h1's default), and refused below 1 KiB, above 10 MiB or
// negative, the error naming it.
func TestMaxBackendHeaderBytes(t *testing.T) {
	c, err := config.Parse("gw.yaml", []byte(nodes))
	if err != nil || c.Limits.MaxBackendHeaderBytes != 0 {
		t.Fatalf("left out: %v, %d; want 0", err, c.Limits.MaxBackendHeaderBytes)
	}
	for _, n := range []int{1 << 10, 256 << 10, 10 << 20} {
		c, err := config.Parse("gw.yaml", []byte(nodes+"limits: {max_backend_header_bytes: "+strconv.Itoa(n)+"}\n"))
		if err != nil || c.Limits.MaxBackendHeaderBytes != n {
			t.Errorf("%d: %v, %d", n, err, c.Limits.MaxBackendHeaderBytes)
		}
	}
	for _, n := range []string{"-1", "1023", "10485761"} {
		_, err := config.Parse("gw.yaml", []byte(nodes+"limits:\n  max_backend_header_bytes: "+n+"\n"))
		if err == nil || !strings.Contains(err.Error(), "limits.max_backend_header_bytes") {
			t.Errorf("%s: %v, want an error naming limits.max_backend_header_bytes", n, err)
		}
	}
}

// TestMaxHeldBodyBytes: limits.max_held_body_bytes is read, zero when left
// out (the router's default), and refused below 1 MiB or negative, the
// error naming it with its line.
func TestMaxHeldBodyBytes(t *testing.T) {
	c, err := config.Parse("gw.yaml", []byte(nodes))
	if err != nil || c.Limits.MaxHeldBodyBytes != 0 {
		t.Fatalf("left out: %v, %d; want 0", err, c.Limits.MaxHeldBodyBytes)
	}
	for _, n := range []int64{1 << 20, 1 << 30, 64 << 30} {
		c, err := config.Parse("gw.yaml", []byte(nodes+"limits: {max_held_body_bytes: "+strconv.FormatInt(n, 10)+"}\n"))
		if err != nil || c.Limits.MaxHeldBodyBytes != n {
			t.Errorf("%d: %v, %d", n, err, c.Limits.MaxHeldBodyBytes)
		}
	}
	for _, n := range []string{"-1", "65536", "1048575"} {
		_, err := config.Parse("gw.yaml", []byte(nodes+"limits:\n  max_held_body_bytes: "+n+"\n"))
		if err == nil || !strings.Contains(err.Error(), "limits.max_held_body_bytes") || !strings.Contains(err.Error(), "gw.yaml:") {
			t.Errorf("%s: %v, want an error naming limits.max_held_body_bytes and its place", n, err)
		}
	}
}
