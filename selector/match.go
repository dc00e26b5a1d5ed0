package selector

import "strings"

// pattern selects nodes by version. A pattern that parses as a semantic
// version or a prefix of one (v?MAJOR[.MINOR[.PATCH[-PRE]]][+BUILD])
// matches the nodes whose Version is a semantic version with the same
// parts: "2" matches 2.x.y, "2.1" matches 2.1.x, pre-releases included, and
// "2.1.0" matches 2.1.0 only (any build). Any other pattern ("blue", "2.1.x")
// matches the nodes whose Version is exactly that text. Ranges such as
// ">=2.0.0" are not supported: they are exact texts that match nothing.
type pattern struct {
	text  string
	key   string // a semantic pattern's canonical form: text without "v" or build
	v     Version
	parts int // numeric parts of a semantic pattern; 0 for an exact text
}

func parsePattern(s string) pattern {
	v, parts, ok := parse(s)
	if !ok {
		return pattern{text: s}
	}
	return pattern{text: s, key: canonical(s), v: v, parts: parts}
}

// canonical strips a parsed version's leading "v" and build metadata: with
// numbers that cannot have leading zeros, what is left is canonical.
func canonical(s string) string {
	s = strings.TrimPrefix(s, "v")
	if i := strings.IndexByte(s, '+'); i >= 0 {
		s = s[:i]
	}
	return s
}

// match reports whether a node of version version is selected.
func (p pattern) match(version string) bool {
	if p.parts == 0 {
		return version == p.text
	}
	v, parts, ok := parse(version)
	if !ok || parts != 3 || v.Major != p.v.Major {
		return false
	}
	switch p.parts {
	case 1:
		return true
	case 2:
		return v.Minor == p.v.Minor
	}
	return v.Minor == p.v.Minor && v.Patch == p.v.Patch && v.Pre == p.v.Pre
}

// overlaps reports whether some version would match both p and q.
func (p pattern) overlaps(q pattern) bool {
	if p.parts == 0 || q.parts == 0 {
		return p.parts == q.parts && p.text == q.text
	}
	n := min(p.parts, q.parts)
	return p.v.Major == q.v.Major && (n < 2 || p.v.Minor == q.v.Minor) &&
		(n < 3 || p.v.Patch == q.v.Patch && p.v.Pre == q.v.Pre)
}

// versionKeys returns the canonical forms of the patterns that select a node
// of version version, for Pinnable's index: for 2.1.0-rc.1, "2.1.0-rc.1",
// "2.1" and "2". ok is false when version is not a semantic version: only
// its exact text selects it.
func versionKeys(version string) (full, minor, major string, ok bool) {
	if _, parts, valid := parse(version); !valid || parts != 3 {
		return "", "", "", false
	}
	full = canonical(version)
	i := strings.IndexByte(full, '.')
	j := i + 1 + strings.IndexByte(full[i+1:], '.')
	return full, full[:j], full[:i], true
}
