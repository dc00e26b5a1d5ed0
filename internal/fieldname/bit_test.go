package fieldname

import "testing"

// TestBit: a name's bit is one bit, the same for the same name.
func TestBit(t *testing.T) {
	for _, name := range []string{"A", "Host", "Content-Length", "x-custom", "Upgrade-Insecure-Requests"} {
		b := Bit(name)
		if b == 0 || b&(b-1) != 0 || Bit(string([]byte(name))) != b {
			t.Errorf("Bit(%q) = %#x", name, b)
		}
	}
}
