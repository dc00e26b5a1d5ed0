package router

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"unicode/utf8"
)

// An RPC route's body is a JSON object whose members the gateway merges
// with the request's parameters and encodes again (rpc.go). Decoded with
// encoding/json into a map and encoded with json.Marshal, a body of many
// small members cost eight times an ordinary body of its size: 141 ms of
// CPU and 471,000 allocations for 1 MiB of {"k0":1,"k1":1,...} through the
// gateway, against 17 ms for one string member, each member's name and
// value copied, hashed and sorted through reflection.
//
// So a valid object (json.Valid, then a '{') has its members found by a
// scan over the checked bytes, each value kept as the slice of the body it
// is, and the object written back by hand: what json.Unmarshal into a
// map[string]json.RawMessage and a json.Marshal of the map (with no HTML
// escaping) make of it, byte for byte (FuzzRPCMembers holds them to it):
// names unescaped, the last of equal names kept, names sorted, values
// compacted. Anything else goes through encoding/json, for its errors.

// member is a member of a JSON object: its name, unescaped, and its value,
// as it is in the body.
type member struct {
	name  string
	value json.RawMessage
	at    int // its place in the body: of equal names, the last is kept
}

// decodeMembers returns the members of the JSON object raw in their order,
// each value a slice of raw, or encoding/json's error for raw; nil and no
// error for "null", which decodes to a nil map.
func decodeMembers(raw []byte) ([]member, error) {
	i := skipSpace(raw, 0)
	if !json.Valid(raw) || i == len(raw) || raw[i] != '{' {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
			return nil, err
		}
		return nil, errors.New("json: not an object") // not reached: the object is valid
	}
	i = skipSpace(raw, i+1)
	if raw[i] == '}' {
		return []member{}, nil
	}
	// Counted first: a slice grown member by member (of pointers, which
	// the collector scans) cost more than the scan, for many small ones.
	members := make([]member, 0, countMembers(raw, i))
	for {
		end := skipString(raw, i)
		name, err := memberName(raw[i:end])
		if err != nil {
			return nil, err
		}
		i = skipSpace(raw, skipSpace(raw, end)+1) // past ':'
		end = skipValue(raw, i)
		members = append(members, member{name, raw[i:end:end], len(members)})
		i = skipSpace(raw, end)
		if raw[i] == '}' {
			return members, nil
		}
		i = skipSpace(raw, i+1) // past ','
	}
}

// membersOf returns the members of fields.
func membersOf(fields map[string]json.RawMessage) []member {
	members := make([]member, 0, len(fields))
	for name, v := range fields {
		members = append(members, member{name: name, value: v})
	}
	return members
}

// fieldsOf returns members as a map, the last of equal names kept.
func fieldsOf(members []member) map[string]json.RawMessage {
	fields := make(map[string]json.RawMessage, len(members))
	for _, m := range members {
		fields[m.name] = m.value
	}
	return fields
}

// countMembers counts the members of the object whose first member's name
// starts at i.
func countMembers(raw []byte, i int) int {
	n := 1
	for {
		i = skipValue(raw, skipSpace(raw, skipSpace(raw, skipString(raw, i))+1))
		if i = skipSpace(raw, i); raw[i] == '}' {
			return n
		}
		i, n = skipSpace(raw, i+1), n+1
	}
}

// memberName returns the name a member's quoted name q stands for.
func memberName(q []byte) (string, error) {
	if bytes.IndexByte(q, '\\') < 0 {
		return string(q[1 : len(q)-1]), nil
	}
	var s string
	err := json.Unmarshal(q, &s)
	return s, err
}

// The scanners below read JSON that json.Valid accepted: each returns the
// index just past what starts at i.

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString skips the string whose quote is at i.
func skipString(b []byte, i int) int {
	for i++; ; i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
}

// skipValue skips the value that starts at i.
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; ; i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
		}
	}
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' &&
		b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
		i++ // a number, true, false or null
	}
	return i
}

// encodeMembers writes members as json.Marshal writes a
// map[string]json.RawMessage of them (the last of equal names kept), with
// no HTML escaping: names sorted, each value compacted. It sorts members.
func encodeMembers(members []member) ([]byte, error) {
	// By name alone: pdqsort takes a run of equal names (a body of one name
	// repeated) in linear time, where a stable sort, or a comparison of
	// places too, cost more; the run's last in the body is found below.
	slices.SortFunc(members, func(a, b member) int { return strings.Compare(a.name, b.name) })
	size := 2
	for _, m := range members {
		size += len(m.name) + len(m.value) + 4
	}
	out := bytes.NewBuffer(make([]byte, 0, size))
	out.WriteByte('{')
	for k := 0; k < len(members); k++ {
		m := members[k]
		for k+1 < len(members) && members[k+1].name == m.name {
			if k++; members[k].at > m.at {
				m = members[k]
			}
		}
		if out.Len() > 1 {
			out.WriteByte(',')
		}
		if plainName(m.name) {
			out.WriteByte('"')
			out.WriteString(m.name)
			out.WriteByte('"')
		} else {
			q, err := marshal(m.name)
			if err != nil {
				return nil, err
			}
			out.Write(q)
		}
		out.WriteByte(':')
		if err := writeCompact(out, m.value); err != nil {
			return nil, err
		}
	}
	out.WriteByte('}')
	return out.Bytes(), nil
}

// writeCompact writes the value v compacted, as json.Marshal does a
// json.RawMessage. Only an object or an array can hold white space outside
// its strings, and json.Compact, which costs a scanner per call, is asked
// only for one that holds any: a string or a scalar goes as it is.
func writeCompact(out *bytes.Buffer, v []byte) error {
	if len(v) > 0 && (v[0] == '{' || v[0] == '[') && bytes.ContainsAny(v, " \t\n\r") {
		return json.Compact(out, v)
	}
	out.Write(v)
	return nil
}

// plainName reports whether encoding/json writes name between quotes as it
// is: valid UTF-8 with no quote, backslash or control character, nor
// U+2028 or U+2029, which it escapes in a string whatever SetEscapeHTML
// says.
func plainName(name string) bool {
	for i := 0; i < len(name); i++ {
		if c := name[i]; c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return utf8.ValidString(name) && !strings.Contains(name, "\u2028") && !strings.Contains(name, "\u2029")
}
