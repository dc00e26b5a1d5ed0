package selector

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Version is a semantic version, as semver.org 2.0.0 defines it, written
// with an optional leading "v": v2.1.0, 2.1.0-rc.1+build.7.
type Version struct {
	Major, Minor, Patch uint64
	// Pre is the pre-release, without its "-"; empty for a release.
	Pre string
	// Build is the build metadata, without its "+". Compare ignores it.
	Build string
}

// ErrInvalidVersion reports a string that is not a semantic version.
var ErrInvalidVersion = errors.New("not a semantic version (MAJOR.MINOR.PATCH[-PRE][+BUILD], optional leading v)")

// ParseVersion parses s as a semantic version. It allocates nothing unless s
// is invalid; its error then wraps ErrInvalidVersion.
func ParseVersion(s string) (Version, error) {
	v, parts, ok := parse(s)
	if !ok || parts != 3 {
		return Version{}, fmt.Errorf("selector: %q: %w", s, ErrInvalidVersion)
	}
	return v, nil
}

// Compare returns -1, 0 or +1 as v orders before, as, or after o, by
// semantic versioning precedence: numerically by major, minor and patch
// ("1.10.0" after "1.9.0"), a pre-release before its release, pre-releases
// identifier by identifier (numeric ones numerically and before
// alphanumeric ones, a shorter list first when all else is equal), and build
// metadata ignored.
func (v Version) Compare(o Version) int {
	for _, d := range [...][2]uint64{{v.Major, o.Major}, {v.Minor, o.Minor}, {v.Patch, o.Patch}} {
		if d[0] != d[1] {
			if d[0] < d[1] {
				return -1
			}
			return 1
		}
	}
	return comparePre(v.Pre, o.Pre)
}

// String returns the version in its canonical form, without a leading "v".
func (v Version) String() string {
	s := strconv.FormatUint(v.Major, 10) + "." + strconv.FormatUint(v.Minor, 10) + "." + strconv.FormatUint(v.Patch, 10)
	if v.Pre != "" {
		s += "-" + v.Pre
	}
	if v.Build != "" {
		s += "+" + v.Build
	}
	return s
}

// parse parses v?MAJOR[.MINOR[.PATCH[-PRE]]][+BUILD] and returns how many
// numeric parts it has. It allocates nothing.
func parse(s string) (v Version, parts int, ok bool) {
	s = strings.TrimPrefix(s, "v")
	if i := strings.IndexByte(s, '+'); i >= 0 {
		if v.Build = s[i+1:]; !identifiers(v.Build, false) {
			return Version{}, 0, false
		}
		s = s[:i]
	}
	if i := strings.IndexByte(s, '-'); i >= 0 {
		if v.Pre = s[i+1:]; !identifiers(v.Pre, true) {
			return Version{}, 0, false
		}
		s = s[:i]
	}
	nums := [3]*uint64{&v.Major, &v.Minor, &v.Patch}
	for {
		part, rest, more := strings.Cut(s, ".")
		if parts == 3 || !number(part, nums[parts]) {
			return Version{}, 0, false
		}
		parts++
		if !more {
			break
		}
		s = rest
	}
	if v.Pre != "" && parts != 3 {
		return Version{}, 0, false
	}
	return v, parts, true
}

// number parses a numeric part: digits without a leading zero, in uint64.
func number(s string, out *uint64) bool {
	if s == "" || len(s) > 1 && s[0] == '0' {
		return false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' || n > (1<<64-1-uint64(c-'0'))/10 {
			return false
		}
		n = n*10 + uint64(c-'0')
	}
	*out = n
	return true
}

// identifiers checks dot-separated identifiers of [0-9A-Za-z-]; in a
// pre-release, numeric ones must not have leading zeros.
func identifiers(s string, pre bool) bool {
	for {
		id, rest, more := strings.Cut(s, ".")
		if id == "" {
			return false
		}
		for i := 0; i < len(id); i++ {
			if c := id[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '-') {
				return false
			}
		}
		if pre && numeric(id) && len(id) > 1 && id[0] == '0' {
			return false
		}
		if !more {
			return true
		}
		s = rest
	}
}

func numeric(id string) bool {
	for i := 0; i < len(id); i++ {
		if id[i] < '0' || id[i] > '9' {
			return false
		}
	}
	return true
}

// comparePre orders pre-releases: none (a release) after any.
func comparePre(a, b string) int {
	switch {
	case a == b:
		return 0
	case a == "":
		return 1
	case b == "":
		return -1
	}
	for {
		x, arest, amore := strings.Cut(a, ".")
		y, brest, bmore := strings.Cut(b, ".")
		if c := compareIdentifier(x, y); c != 0 {
			return c
		}
		switch {
		case !amore && !bmore:
			return 0
		case !amore:
			return -1
		case !bmore:
			return 1
		}
		a, b = arest, brest
	}
}

func compareIdentifier(x, y string) int {
	xn, yn := numeric(x), numeric(y)
	switch {
	case xn && yn:
		if len(x) != len(y) { // no leading zeros: longer is larger
			if len(x) < len(y) {
				return -1
			}
			return 1
		}
	case xn:
		return -1
	case yn:
		return 1
	}
	return strings.Compare(x, y)
}
