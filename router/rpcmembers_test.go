package router

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// membersByEncodingJSON is what decodeMembers and encodeMembers stand for:
// the body decoded by json.Unmarshal into a map, merged with the
// parameters, and encoded by an encoder with no HTML escaping.
func membersByEncodingJSON(raw []byte, query url.Values, keys, values []string) ([]byte, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil || fields == nil {
		return nil, fmt.Errorf("%v (null: %v)", err, fields == nil)
	}
	mergeParams(fields, query, keys, values)
	return marshal(fields) // json.Marshal, with no HTML escaping
}

// FuzzRPCMembers: an RPC route's body, decoded by scanning and encoded by
// hand, is what encoding/json makes of it, byte for byte, with the same
// error for a body that is not an object; with query and path parameters
// merged in.
func FuzzRPCMembers(f *testing.F) {
	for _, seed := range []string{
		`{}`, ` { } `, `{"a":1}`, `{"a" : [1, {"b" : "c"}] , "d":true}`, `{"a":1,"a":2}`, `{"a":1,"\u0061":2}`,
		`{"k\"q":"v\\","":null}`, `{"\u2028":"\u2029","x":"<&>"}`, "{\"\u2028\":1}", `{"\u0000":1,"\ud800":2}`,
		`{"n":-1.5e+10,"t":false,"z":null}`, `{"s":"a]}b{[\"","o":{"p":{}}}`, `null`, `[1]`, `"x"`, `1`, `{"a":}`,
		`{"a":1}x`, `{"a":1,}`, `{"userId":"x","USERID":"y","uſerid":"z"}`, "{\n\t\"a\"\r\n:\n1\n}",
	} {
		f.Add([]byte(seed), "userid=q&b=1&b=2", "x")
	}
	f.Fuzz(func(t *testing.T, raw []byte, rawQuery, pathValue string) {
		if !utf8.Valid(raw) || len(bytes.TrimSpace(raw)) == 0 {
			return // refused, or the empty object, before either
		}
		query, _ := url.ParseQuery(rawQuery)
		keys, values := []string{"userId"}, []string{pathValue}
		if rawQuery == "" && pathValue == "" {
			keys, values = nil, nil
		}
		want, wantErr := membersByEncodingJSON(raw, query, keys, values)
		members, err := decodeMembers(raw)
		if (err != nil || members == nil) != (wantErr != nil) {
			t.Fatalf("%q: decodeMembers error %v (%d members), encoding/json's %v", raw, err, len(members), wantErr)
		}
		if wantErr != nil {
			if err != nil && !strings.HasPrefix(wantErr.Error(), err.Error()) {
				t.Fatalf("%q: error %q, encoding/json's %q", raw, err, wantErr)
			}
			return
		}
		if rawQuery != "" || pathValue != "" { // as rpcBody: merged only with parameters
			fields := fieldsOf(members)
			mergeParams(fields, query, keys, values)
			members = membersOf(fields)
		}
		got, err := encodeMembers(members)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%q: encoded\n%q (%v), encoding/json's\n%q", raw, got, err, want)
		}
	})
}

// wideObject is a body of small members, n bytes or so.
func wideObject(n int) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `"k%d":1,`, i)
	}
	b.WriteString(`"z":1}`)
	return b.Bytes()
}

// BenchmarkRPCMembers prices a 1 MiB body of about 100,000 members, one
// of a single name repeated, and one of a single string member, decoded and encoded again, against
// encoding/json's map and json.Marshal.
func BenchmarkRPCMembers(b *testing.B) {
	for _, body := range []struct {
		name string
		raw  []byte
	}{{"wide", wideObject(1 << 20)}, {"one-name", []byte("{" + strings.Repeat(`"k":1,`, 1<<20/6) + `"z":1}`)}, {"string", []byte(`{"a":"` + strings.Repeat("a", 1<<20) + `"}`)}, {"small", []byte(`{"name":"Ada","count":2}`)}} {
		b.Run(body.name+"/scan", func(b *testing.B) {
			for b.Loop() {
				members, _ := decodeMembers(body.raw)
				_, _ = encodeMembers(members)
			}
		})
		b.Run(body.name+"/encoding-json", func(b *testing.B) {
			for b.Loop() {
				_, _ = membersByEncodingJSON(body.raw, nil, nil, nil)
			}
		})
	}
}
