package config

import (
	"fmt"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// maxNodes bounds the YAML nodes one file may expand to, aliases included,
// so that a "billion laughs" file fails instead of eating memory.
const maxNodes = 100_000

// maxValueBytes bounds the bytes of the string values one file decodes to,
// aliases included. An alias of a value kept as written shares its bytes,
// but one with an environment reference or a $$ is expanded anew at each
// alias: 100,000 aliases of a value of 100 kB, in a file under
// MaxFileBytes, built 10 GB of strings before validation saw the first.
// No file comes near the bound without aliases: its text is at most
// MaxFileBytes.
const maxValueBytes = 4 * MaxFileBytes

// Pos is a position in a configuration file.
type Pos struct{ Line, Column int }

// decoder turns the YAML parser's syntax tree into config structs,
// strictly: unknown fields, duplicate keys and mistyped values are errors
// at their position, and the position of every value is kept for later
// validation errors. Aliases are expanded here, bounded by maxNodes; the
// parser itself never expands them.
type decoder struct {
	file    string
	pos     map[string]Pos
	nodes   int
	bytes   int                 // of the string values decoded, against maxValueBytes
	anchors map[string]ast.Node // by name, as met in document order
	// lookup finds environment variables for references in values (see
	// env.go); nil expands none.
	lookup func(string) (string, bool)
	// env remembers the values lookup found, which errors must not show
	// (redact.go); nil remembers none.
	env *envValues
}

// position is where n starts, as a reader would point at it: a block
// mapping at its first key, anything else at its first token.
func position(n ast.Node) Pos {
	if m, ok := n.(*ast.MappingNode); ok && !m.IsFlowStyle && len(m.Values) > 0 {
		n = m.Values[0].Key
	}
	if mv, ok := n.(*ast.MappingValueNode); ok {
		n = mv.Key
	}
	tk := n.GetToken()
	if tk == nil || tk.Position == nil {
		return Pos{}
	}
	return Pos{tk.Position.Line, tk.Position.Column}
}

func (d *decoder) errorf(n ast.Node, path, format string, args ...any) error {
	p := position(n)
	return &Error{File: d.file, Line: p.Line, Column: p.Column, Path: path, Msg: fmt.Sprintf(format, args...)}
}

var durationType = reflect.TypeOf(time.Duration(0))

// resolve follows anchors (remembering them), aliases and tags to the node
// that holds the value, and reports whether that value is null.
func (d *decoder) resolve(n ast.Node, path string) (ast.Node, bool, error) {
	for {
		switch x := n.(type) {
		case *ast.AnchorNode:
			if d.anchors == nil {
				d.anchors = make(map[string]ast.Node)
			}
			d.anchors[text(x.Name)] = x.Value
			n = x.Value
		case *ast.AliasNode:
			target, ok := d.anchors[text(x.Value)]
			if !ok {
				return nil, false, d.errorf(n, path, "unknown alias %q", text(x.Value))
			}
			n = target
		case *ast.TagNode:
			if x.Start != nil && x.Start.Value == "!!null" {
				return n, true, nil
			}
			n = x.Value
		case nil:
			return n, true, nil
		case *ast.NullNode:
			return n, true, nil
		default:
			return n, false, nil
		}
	}
}

// entries returns the key-value pairs of a mapping node, or false.
func entries(n ast.Node) ([]*ast.MappingValueNode, bool) {
	switch x := n.(type) {
	case *ast.MappingNode:
		return x.Values, true
	case *ast.MappingValueNode:
		return []*ast.MappingValueNode{x}, true
	}
	return nil, false
}

// text is the value of a scalar node as written (a quoted string's without
// its quotes and escapes), or "" for any other node.
func text(n ast.Node) string {
	switch x := n.(type) {
	case *ast.StringNode:
		return x.Value
	case *ast.LiteralNode:
		if x.Value != nil {
			return x.Value.Value
		}
		return ""
	case *ast.MappingNode, *ast.MappingValueNode, *ast.SequenceNode, nil:
		return ""
	}
	if tk := n.GetToken(); tk != nil {
		return tk.Value
	}
	return ""
}

// isScalar reports whether n is a single value.
func isScalar(n ast.Node) bool {
	switch n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode, *ast.SequenceNode:
		return false
	}
	return true
}

func (d *decoder) decode(n ast.Node, v reflect.Value, path string) error {
	d.nodes++
	if d.nodes > maxNodes {
		return d.errorf(n, path, "the file expands to more than %d values", maxNodes)
	}
	at := n // an alias is pointed at where it is written
	n, null, err := d.resolve(n, path)
	if err != nil {
		return err
	}
	if n != nil {
		d.pos[path] = position(n)
	}
	if null {
		return nil // an empty value keeps the zero value
	}
	if v.Type() == durationType {
		return d.duration(n, v, path)
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return d.decode(n, v.Elem(), path)
	case reflect.Struct:
		return d.structure(n, v, path)
	case reflect.Slice:
		seq, ok := n.(*ast.SequenceNode)
		if !ok {
			return d.errorf(n, path, "expected a list, got %s", kindName(n))
		}
		s := reflect.MakeSlice(v.Type(), len(seq.Values), len(seq.Values))
		for i, item := range seq.Values {
			if err := d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.Map:
		kvs, ok := entries(n)
		if !ok || v.Type().Key().Kind() != reflect.String {
			return d.errorf(n, path, "expected a mapping, got %s", kindName(n))
		}
		m := reflect.MakeMapWithSize(v.Type(), len(kvs))
		for _, kv := range kvs {
			if !isScalar(kv.Key) {
				return d.errorf(kv.Key, path, "keys must be plain strings")
			}
			k := text(kv.Key)
			if m.MapIndex(reflect.ValueOf(k)).IsValid() {
				return d.errorf(kv.Key, path, "duplicate key %q", k)
			}
			elem := reflect.New(v.Type().Elem()).Elem()
			if err := d.decode(kv.Value, elem, path+"."+k); err != nil {
				return err
			}
			m.SetMapIndex(reflect.ValueOf(k), elem)
		}
		v.Set(m)
		return nil
	case reflect.String:
		if err := d.scalar(n, v, path); err != nil {
			return err
		}
		if d.bytes += v.Len(); d.bytes > maxValueBytes {
			return d.errorf(at, path, "the file expands to more than %d MiB of values", maxValueBytes>>20)
		}
		return nil
	}
	return d.scalar(n, v, path)
}

func (d *decoder) structure(n ast.Node, v reflect.Value, path string) error {
	kvs, ok := entries(n)
	if !ok {
		return d.errorf(n, path, "expected a mapping, got %s", kindName(n))
	}
	fields := make(map[string]int)
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		if name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ","); name != "" && name != "-" {
			fields[name] = i
		}
	}
	seen := make(map[string]bool)
	for _, kv := range kvs {
		k := text(kv.Key)
		idx, ok := fields[k]
		if !ok || !isScalar(kv.Key) {
			return d.errorf(kv.Key, path, "unknown field %q (known: %s)", k, knownFields(fields))
		}
		if seen[k] {
			return d.errorf(kv.Key, path, "duplicate field %q", k)
		}
		seen[k] = true
		child := k
		if path != "" {
			child = path + "." + k
		}
		if err := d.decode(kv.Value, v.Field(idx), child); err != nil {
			return err
		}
	}
	return nil
}

func knownFields(fields map[string]int) string {
	names := make([]string, 0, len(fields))
	for name := range fields {
		names = append(names, name)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

func (d *decoder) duration(n ast.Node, v reflect.Value, path string) error {
	if !isScalar(n) {
		return d.errorf(n, path, "expected a duration such as 2s or 150ms, got %s", kindName(n))
	}
	val, err := d.value(n, path)
	if err != nil {
		return err
	}
	if _, err := strconv.ParseFloat(val, 64); err == nil {
		return d.errorf(n, path, "duration %q has no unit: write it as, say, %sms or %ss", val, val, val)
	}
	dur, err := time.ParseDuration(val)
	if err != nil {
		return d.errorf(n, path, "bad duration %q: use a number and a unit, such as 2s or 150ms", val)
	}
	if dur < 0 {
		return d.errorf(n, path, "duration %q must not be negative", val)
	}
	v.SetInt(int64(dur))
	return nil
}

func (d *decoder) scalar(n ast.Node, v reflect.Value, path string) error {
	if !isScalar(n) {
		return d.errorf(n, path, "expected a single value, got %s", kindName(n))
	}
	val, err := d.value(n, path)
	if err != nil {
		return err
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(val)
	case reflect.Bool:
		switch val {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			return d.errorf(n, path, "expected true or false, got %q", val)
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		i, err := strconv.ParseInt(val, 10, 64)
		if err != nil || v.OverflowInt(i) {
			return d.errorf(n, path, "expected a whole number, got %q", val)
		}
		v.SetInt(i)
	case reflect.Float64:
		// strconv also reads nan and inf, which no field means and
		// which slip through range checks (NaN compares false).
		f, err := strconv.ParseFloat(val, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return d.errorf(n, path, "expected a number, got %q", val)
		}
		v.SetFloat(f)
	default:
		return d.errorf(n, path, "unsupported type %s", v.Type())
	}
	return nil
}

func kindName(n ast.Node) string {
	switch n.(type) {
	case *ast.MappingNode, *ast.MappingValueNode:
		return "a mapping"
	case *ast.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", text(n))
}
