package config

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds the YAML nodes one file may expand to, aliases included,
// so that a "billion laughs" file fails instead of eating memory.
const maxNodes = 100_000

// Pos is a position in a configuration file.
type Pos struct{ Line, Column int }

// decoder turns a yaml.Node tree into config structs, strictly: unknown
// fields, duplicate keys and mistyped values are errors at their position,
// and the position of every value is kept for later validation errors.
type decoder struct {
	file  string
	pos   map[string]Pos
	nodes int
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) error {
	return &Error{File: d.file, Line: n.Line, Column: n.Column, Path: path, Msg: fmt.Sprintf(format, args...)}
}

var durationType = reflect.TypeOf(time.Duration(0))

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) error {
	d.nodes++
	if d.nodes > maxNodes {
		return d.errorf(n, path, "the file expands to more than %d values", maxNodes)
	}
	if n.Kind == yaml.AliasNode {
		return d.decode(n.Alias, v, path)
	}
	d.pos[path] = Pos{n.Line, n.Column}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
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
		if n.Kind != yaml.SequenceNode {
			return d.errorf(n, path, "expected a list, got %s", kindName(n))
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, item := range n.Content {
			if err := d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
		v.Set(s)
		return nil
	case reflect.Map:
		if n.Kind != yaml.MappingNode || v.Type().Key().Kind() != reflect.String {
			return d.errorf(n, path, "expected a mapping, got %s", kindName(n))
		}
		m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				return d.errorf(k, path, "keys must be plain strings")
			}
			if m.MapIndex(reflect.ValueOf(k.Value)).IsValid() {
				return d.errorf(k, path, "duplicate key %q", k.Value)
			}
			elem := reflect.New(v.Type().Elem()).Elem()
			if err := d.decode(val, elem, path+"."+k.Value); err != nil {
				return err
			}
			m.SetMapIndex(reflect.ValueOf(k.Value), elem)
		}
		v.Set(m)
		return nil
	}
	return d.scalar(n, v, path)
}

func (d *decoder) structure(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind != yaml.MappingNode {
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
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		idx, ok := fields[k.Value]
		if !ok || k.Kind != yaml.ScalarNode {
			return d.errorf(k, path, "unknown field %q (known: %s)", k.Value, knownFields(fields))
		}
		if seen[k.Value] {
			return d.errorf(k, path, "duplicate field %q", k.Value)
		}
		seen[k.Value] = true
		child := k.Value
		if path != "" {
			child = path + "." + k.Value
		}
		if err := d.decode(val, v.Field(idx), child); err != nil {
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

func (d *decoder) duration(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind != yaml.ScalarNode {
		return d.errorf(n, path, "expected a duration such as 2s or 150ms, got %s", kindName(n))
	}
	if _, err := strconv.ParseFloat(n.Value, 64); err == nil {
		return d.errorf(n, path, "duration %q has no unit: write it as, say, %sms or %ss", n.Value, n.Value, n.Value)
	}
	dur, err := time.ParseDuration(n.Value)
	if err != nil {
		return d.errorf(n, path, "bad duration %q: use a number and a unit, such as 2s or 150ms", n.Value)
	}
	if dur < 0 {
		return d.errorf(n, path, "duration %q must not be negative", n.Value)
	}
	v.SetInt(int64(dur))
	return nil
}

func (d *decoder) scalar(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind != yaml.ScalarNode {
		return d.errorf(n, path, "expected a single value, got %s", kindName(n))
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(n.Value)
	case reflect.Bool:
		switch n.Value {
		case "true":
			v.SetBool(true)
		case "false":
			v.SetBool(false)
		default:
			return d.errorf(n, path, "expected true or false, got %q", n.Value)
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		i, err := strconv.ParseInt(n.Value, 10, 64)
		if err != nil || v.OverflowInt(i) {
			return d.errorf(n, path, "expected a whole number, got %q", n.Value)
		}
		v.SetInt(i)
	case reflect.Float64:
		f, err := strconv.ParseFloat(n.Value, 64)
		if err != nil {
			return d.errorf(n, path, "expected a number, got %q", n.Value)
		}
		v.SetFloat(f)
	default:
		return d.errorf(n, path, "unsupported type %s", v.Type())
	}
	return nil
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}
