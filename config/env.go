package config

import (
	"strings"

	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/token"
)

// Environment references in values keep secrets out of the file (and out of
// Consul KV): a value may hold ${NAME}, replaced by the environment variable
// NAME, or ${NAME:-default}, which takes default when NAME is unset or
// empty; $$ stands for one $. A $ followed by anything else stays as it is,
// so regular expressions in paths keep their anchors.
//
// References are expanded in the values of the parsed YAML tree as they are
// decoded, never in the text: a secret that holds a colon, a quote or a
// newline cannot change the structure of the file, a reference in a comment
// is not read, and every error keeps its line and column. Keys are never
// expanded.

// value returns the text of scalar n with its environment references
// expanded; a reference to an unset variable with no default, or a
// malformed one, is an error at its place.
func (d *decoder) value(n ast.Node, path string) (string, error) {
	s := text(n)
	if d.lookup == nil || !strings.Contains(s, "$") {
		return s, nil
	}
	lookup := d.lookup
	if d.env != nil {
		lookup = d.env.lookup(path, lookup)
	}
	v, off, msg := expandValue(s, lookup)
	if msg == "" {
		if d.env != nil {
			d.env.field(path, s, v)
		}
		return v, nil
	}
	p := position(n)
	if single := !strings.Contains(s, "\n"); single {
		switch tk := n.GetToken(); {
		case tk == nil:
		case tk.Type == token.StringType:
			p.Column += off // a plain scalar on one line: point at the reference itself
		case (tk.Type == token.DoubleQuoteType || tk.Type == token.SingleQuoteType) && !strings.ContainsAny(s, `\'"`):
			p.Column += off + 1 // after the opening quote, when no escape shifts it
		}
	}
	return "", &Error{File: d.file, Line: p.Line, Column: p.Column, Path: path, Msg: msg}
}

// expandValue expands the references of s. On failure it returns the offset
// of the faulty reference in s and a message.
func expandValue(s string, lookup func(string) (string, bool)) (string, int, string) {
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '$' || i+1 == len(s) {
			b.WriteByte(c)
			i++
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i += 2
			continue
		case '{':
		default:
			b.WriteByte(c)
			i++
			continue
		}
		end := strings.IndexByte(s[i:], '}')
		if end < 0 {
			return "", i, "unterminated ${ (write $$ for a literal $)"
		}
		ref := s[i+2 : i+end]
		name, def, hasDef := strings.Cut(ref, ":-")
		if !validEnvName(name) {
			return "", i, "bad environment reference ${" + ref + "}: a name is letters, digits and _, not starting with a digit (write $$ for a literal $)"
		}
		v, ok := lookup(name)
		switch {
		case hasDef && v == "":
			v = def
		case !ok:
			return "", i, "environment variable " + name + " is not set (give a default with ${" + name + ":-value})"
		}
		b.WriteString(v)
		i += end + 1
	}
	return b.String(), 0, ""
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
