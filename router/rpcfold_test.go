package router

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
	"testing"
)

// FuzzFoldName: two names fold to the same string exactly when
// strings.EqualFold reports them equal, valid UTF-8 or not.
func FuzzFoldName(f *testing.F) {
	for _, s := range [][2]string{{"userId", "USERID"}, {"uſerId", "userid"}, {"K", "\u212a"}, {"k", "\u212a"},
		{"ß", "ẞ"}, {"Σ", "ς"}, {"σ", "ς"}, {"\xff", "\ufffd"}, {"\xff", "\xfe"}, {"a", "aa"}, {"İ", "i"}, {"ǅ", "ǆ"}} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if eq, same := strings.EqualFold(a, b), foldName(a) == foldName(b); eq != same {
			t.Errorf("EqualFold(%q, %q) = %v, but they fold to %q and %q", a, b, eq, foldName(a), foldName(b))
		}
	})
}

// mergeParamsPairwise is mergeParams's definition, as it was written
// before the index: each parameter compared with every member.
func mergeParamsPairwise(fields map[string]json.RawMessage, query map[string][]string, keys, values []string) {
	drop := func(k string) {
		for f := range fields {
			if f != k && strings.EqualFold(f, k) {
				delete(fields, f)
			}
		}
	}
	for k := range query {
		drop(k)
	}
	for k, vv := range query {
		if len(vv) == 1 {
			fields[k], _ = json.Marshal(vv[0])
		} else {
			fields[k], _ = json.Marshal(vv)
		}
	}
	for _, k := range keys {
		drop(k)
	}
	for i, k := range keys {
		fields[k], _ = json.Marshal(values[i])
	}
}

// FuzzMergeParams: mergeParams leaves the members its definition does,
// for names from a few spellings of a few names (so that they fold
// together), on both sides of pairwiseFields. members, params and path
// are comma-separated names; n repeats the members with a suffix, to pass
// pairwiseFields.
func FuzzMergeParams(f *testing.F) {
	f.Add("userid,USERID,uſerId,keep", "userId,Name", "userId", uint8(0))
	f.Add("id,ID,Id,iD", "ID,id", "id,Id", uint8(5))
	f.Add("\u212a,k,K", "k", "K", uint8(20))
	f.Add("a,b", "", "", uint8(0))
	f.Fuzz(func(t *testing.T, members, params, path string, n uint8) {
		split := func(s string) []string {
			if s == "" {
				return nil
			}
			return strings.Split(s, ",")
		}
		base := map[string]json.RawMessage{}
		for i := range int(n%40) + 1 {
			for _, m := range split(members) {
				name := m
				if i > 0 {
					name = fmt.Sprintf("%s%d", m, i)
				}
				base[name] = json.RawMessage(fmt.Sprintf("%d", len(base)))
			}
		}
		query := map[string][]string{}
		for i, p := range split(params) {
			query[p] = append(query[p], fmt.Sprint(i))
		}
		keys := split(path)
		values := make([]string, len(keys))
		for i := range keys {
			values[i] = "path" + fmt.Sprint(i)
		}
		got, want := maps.Clone(base), maps.Clone(base)
		mergeParams(got, query, keys, values)
		mergeParamsPairwise(want, query, keys, values)
		g, _ := json.Marshal(got)
		w, _ := json.Marshal(want)
		if string(g) != string(w) {
			t.Errorf("members %q, query %q, path %q:\n got %s\nwant %s", members, params, path, g, w)
		}
	})
}

// BenchmarkMergeParams is the merge of a request within every limit: a
// body of 90,000 members (about 1 MiB) and a query of 8,000 parameters
// (about 55 KiB), which compared pairwise cost 12.8 s; and of an ordinary
// one, a few members and a path parameter.
func BenchmarkMergeParams(b *testing.B) {
	for _, c := range []struct{ members, params int }{{4, 0}, {90000, 8000}} {
		b.Run(fmt.Sprintf("members=%d,params=%d", c.members, c.params), func(b *testing.B) {
			base := make(map[string]json.RawMessage, c.members)
			for i := range c.members {
				base[fmt.Sprintf("m%d", i)] = json.RawMessage("0")
			}
			query := map[string][]string{}
			for i := range c.params {
				query[fmt.Sprintf("q%d", i)] = []string{""}
			}
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				fields := maps.Clone(base)
				b.StartTimer()
				mergeParams(fields, query, []string{"id"}, []string{"42"})
			}
		})
	}
}
