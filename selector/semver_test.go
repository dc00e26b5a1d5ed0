package selector_test

import (
	"errors"
	"testing"

	"github.com/sluicehq/sluice/registry"
	"github.com/sluicehq/sluice/selector"
)

// TestVersionOrder checks each version orders after the one before it, as
// semver.org 2.0.0 §11 says, and as itself.
func TestVersionOrder(t *testing.T) {
	ordered := []string{
		"0.0.1", "0.1.0", "1.0.0-0", "1.0.0-1", "1.0.0-2", "1.0.0-10", "1.0.0-a", "1.0.0-alpha",
		"1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta", "1.0.0-beta.2", "1.0.0-beta.11",
		"1.0.0-rc.1", "1.0.0", "1.1.0", "1.9.0", "1.10.0", "1.10.1", "2.0.0", "10.0.0",
		"18446744073709551615.0.0",
	}
	for i, a := range ordered {
		for j, b := range ordered {
			va, err := selector.ParseVersion(a)
			if err != nil {
				t.Fatal(err)
			}
			vb, err := selector.ParseVersion(b)
			if err != nil {
				t.Fatal(err)
			}
			want := 0
			if i < j {
				want = -1
			} else if i > j {
				want = 1
			}
			if got := va.Compare(vb); got != want {
				t.Errorf("Compare(%s, %s) = %d, want %d", a, b, got, want)
			}
		}
	}
}

func TestParseVersion(t *testing.T) {
	tests := []struct {
		in   string
		want selector.Version
	}{
		{"1.2.3", selector.Version{Major: 1, Minor: 2, Patch: 3}},
		{"v1.2.3", selector.Version{Major: 1, Minor: 2, Patch: 3}},
		{"0.0.0", selector.Version{}},
		{"1.2.3-rc.1", selector.Version{Major: 1, Minor: 2, Patch: 3, Pre: "rc.1"}},
		{"1.2.3-x-y.0a", selector.Version{Major: 1, Minor: 2, Patch: 3, Pre: "x-y.0a"}},
		{"1.2.3+build.07", selector.Version{Major: 1, Minor: 2, Patch: 3, Build: "build.07"}},
		{"1.2.3-rc.1+b-1", selector.Version{Major: 1, Minor: 2, Patch: 3, Pre: "rc.1", Build: "b-1"}},
	}
	for _, tt := range tests {
		got, err := selector.ParseVersion(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("ParseVersion(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"", "v", "1", "1.2", "1.2.3.4", "01.2.3", "1.02.3", "1.2.03", "1.2.3-",
		"1.2.3-01", "1.2.3-a..b", "1.2.3+", "1.2.3+a_b", "1.2.3-é", "V1.2.3", " 1.2.3", "1.2.x",
		">=1.2.3", "-1.2.3", "18446744073709551616.0.0"} {
		if v, err := selector.ParseVersion(in); !errors.Is(err, selector.ErrInvalidVersion) {
			t.Errorf("ParseVersion(%q) = %+v, %v; want ErrInvalidVersion", in, v, err)
		}
	}
}

func TestVersionString(t *testing.T) {
	for _, s := range []string{"1.2.3", "1.2.3-rc.1", "1.2.3+b", "1.2.3-rc.1+b"} {
		v, err := selector.ParseVersion("v" + s)
		if err != nil || v.String() != s {
			t.Errorf("ParseVersion(v%s).String() = %q, %v", s, v.String(), err)
		}
	}
}

func TestVersionIs(t *testing.T) {
	tests := []struct {
		pattern, version string
		want             bool
	}{
		{"2.1.0", "2.1.0", true},
		{"2.1.0", "v2.1.0", true},
		{"v2.1.0", "2.1.0+build.5", true},
		{"2.1.0", "2.1.0-rc.1", false},
		{"2.1.0-rc.1", "2.1.0-rc.1", true},
		{"2.1.0", "2.1.1", false},
		{"2.1", "2.1.7", true},
		{"2.1", "2.1.0-rc.1", true},
		{"2.1", "2.10.0", false},
		{"2", "2.10.0", true},
		{"2", "20.0.0", false},
		{"2", "2", false}, // a node version must be semantic to match a semantic pattern
		{"blue", "blue", true},
		{"blue", "Blue", false},
		{"2.1.x", "2.1.3", false},
		{">=2.0.0", "2.1.0", false},
		{"2.1.0", "", false},
		{"", "", true},
	}
	for _, tt := range tests {
		if got := selector.VersionIs(tt.pattern)(&registry.Node{Version: tt.version}); got != tt.want {
			t.Errorf("VersionIs(%q) on %q = %v, want %v", tt.pattern, tt.version, got, tt.want)
		}
	}
}
