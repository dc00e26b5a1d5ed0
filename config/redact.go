package config

import (
	"errors"
	"sort"
	"strconv"
	"strings"
)

// envValues remembers the values that environment references brought into
// a file, so that errors never show them. An error quotes the value at
// fault, and a value that came from ${NAME} may be a secret (a Redis URL
// with its password, a JWKS URL with a token): the error is read in logs,
// on standard error and in GET /admin/config, which the environment is
// not. Such a value is shown as the reference that brought it, ${NAME}.
type envValues struct{ seen []envValue }

// envValue is a value met in the field at path: a variable's (name is
// its reference, ${NAME}), or a field's whole value after expansion (name
// is the text written, such as "x${NAME}").
type envValue struct{ path, name, value string }

// lookup wraps an environment lookup for the field at path, remembering
// each non-empty value it finds. A default written in the file
// (${NAME:-default}) is no secret and is not remembered.
func (e *envValues) lookup(path string, get func(string) (string, bool)) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := get(name)
		if ok && v != "" {
			e.seen = append(e.seen, envValue{path, "${" + name + "}", v})
		}
		return v, ok
	}
}

// field remembers the value of the field at path, written as text and
// expanded to value, when a variable gave part of it: an error quoting it
// shows the text written, whatever the variable's value touches.
func (e *envValues) field(path, text, value string) {
	if text != value && len(e.seen) > 0 && e.seen[len(e.seen)-1].path == path {
		e.seen = append(e.seen, envValue{path, text, value})
	}
}

// redact returns err with the remembered values in its messages replaced
// by their references. The errors joined by validate stay joined, one per
// part, and each keeps its place.
func (e *envValues) redact(err error) error {
	if err == nil || len(e.seen) == 0 {
		return err
	}
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		errs := joined.Unwrap()
		out := make([]error, len(errs))
		for i, leaf := range errs {
			out[i] = e.redact(leaf)
		}
		return errors.Join(out...)
	}
	if ce, ok := err.(*Error); ok {
		c := *ce
		c.Msg = e.scrub(c.Msg, c.Path)
		return &c
	}
	if s := e.scrub(err.Error(), ""); s != err.Error() {
		return errors.New(s)
	}
	return err
}

// scrub replaces in s the values met in fields on the branch of path (the
// field itself, those it holds, those that hold it: an error about a route
// may quote its budget's timeout), longest first (a field's whole value
// before the variables in it), raw or as %q writes them. Only whole values
// are replaced: a value's neighbours in s must not be letters or digits,
// so that a variable holding "5" leaves "15s" alone.
func (e *envValues) scrub(s, path string) string {
	var on []envValue
	for _, v := range e.seen {
		if related(v.path, path) {
			on = append(on, v)
		}
	}
	sort.SliceStable(on, func(i, j int) bool { return len(on[i].value) > len(on[j].value) })
	for _, v := range on {
		s = replaceWhole(s, v.value, v.name)
		if q := strconv.Quote(v.value); q[1:len(q)-1] != v.value {
			s = replaceWhole(s, q[1:len(q)-1], v.name)
		}
	}
	return s
}

// related says whether one of the field paths a and b holds the other;
// the empty path (the whole file) holds every field.
func related(a, b string) bool {
	if len(a) > len(b) {
		a, b = b, a
	}
	return a == "" || a == b || strings.HasPrefix(b, a) && (b[len(a)] == '.' || b[len(a)] == '[')
}

// replaceWhole replaces the occurrences of old in s that no letter or
// digit touches.
func replaceWhole(s, old, repl string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, old)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + len(old)
		if (i > 0 && alnum(s[i-1])) || (end < len(s) && alnum(s[end])) {
			b.WriteString(s[:i+1])
			s = s[i+1:]
			continue
		}
		b.WriteString(s[:i])
		b.WriteString(repl)
		s = s[end:]
	}
}

func alnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
