package router

import (
	"encoding/json"
	"strings"
	"unicode"
	"unicode/utf8"
)

// An RPC route's query and path parameters win over the body's members of
// the same name, and over those a JSON decoder could take for it:
// encoding/json, and many decoders like it, match member names to fields
// ignoring case (with Unicode's simple folding: "ſ" is "s", "K" is "k")
// and keep the last match, and json.Marshal sorts names, so the body's
// "userid" came after the path's "userId" and replaced it in the backend.
// So before a parameter is set, every member that folds to its name goes.
//
// Compared pairwise, that was every member against every parameter: a
// request within every limit (a 1 MiB body of 90,000 members, a 64 KiB
// query of 8,000 parameters) cost 720 million comparisons, 12.8 s of a
// core. A folded is an index of the members by their folded name, built
// at the first parameter that finds more than pairwiseFields members, so
// that each parameter finds its members in one lookup and each member goes
// at most once.

// folded is fields with an index of its names by foldName, for drop.
type folded struct {
	fields map[string]json.RawMessage
	byFold map[string][]string // foldName → names in fields (or once were); nil until built
}

// pairwiseFields is how many fields drop compares one by one, without an
// index: building one costs more than a few comparisons.
const pairwiseFields = 16

// drop removes from f.fields every member whose name folds to k's, k
// included (the caller sets k next).
func (f *folded) drop(k string) {
	if f.byFold == nil && len(f.fields) <= pairwiseFields {
		for name := range f.fields {
			if strings.EqualFold(name, k) {
				delete(f.fields, name)
			}
		}
		return
	}
	if f.byFold == nil {
		f.byFold = make(map[string][]string, len(f.fields))
		for name := range f.fields {
			fk := foldName(name)
			f.byFold[fk] = append(f.byFold[fk], name)
		}
	}
	fk := foldName(k)
	for _, name := range f.byFold[fk] {
		delete(f.fields, name)
	}
	delete(f.byFold, fk)
}

// set sets the member k, which a later drop may remove.
func (f *folded) set(k string, v json.RawMessage) {
	f.fields[k] = v
	if f.byFold != nil {
		fk := foldName(k)
		f.byFold[fk] = append(f.byFold[fk], k)
	}
}

// foldName returns s with each rune replaced by the least rune of its
// simple case folding orbit (unicode.SimpleFold), so that two names fold
// to the same string exactly when strings.EqualFold reports them equal
// (FuzzFoldName). Ranging over s reads an invalid byte as U+FFFD, as
// EqualFold does.
func foldName(s string) string {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		// An ASCII letter's least is its upper case, the Kelvin sign's
		// and the long s's orbits ("K", "k", "\u212a") included.
		return strings.ToUpper(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	for _, r := range s {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		b.WriteRune(least)
	}
	return b.String()
}
