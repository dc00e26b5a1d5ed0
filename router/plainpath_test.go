package router

import (
	"net/url"
	"testing"
)

// plainPathSeeds are paths on either side of plainPath's line.
var plainPathSeeds = []string{
	"", "/", "/hello/bench", "/v1/items/42", "/a-b_c~d!$&'()*+,=:@", "/a/", "//a", "/a//b", "/a/./b",
	"/a/../b", "/a.json", "/a;b", `/a\b`, "/a b", "/a\x00", "/a\x7f", "/\xc3\xa9", "/\xff", "a", "/a?b",
	"/a%2Fb", "/.", "/..", "/a/.", "/a.", "/a ", "/a\t", "/~user/", "/a//", "//",
}

// TestPlainPathNeedsNoCheck: a path plainPath takes is one that
// pathProblem and readsOtherwise both let through, and the common paths of
// an API are plain (checkPath's shortcut is taken for them).
func TestPlainPathNeedsNoCheck(t *testing.T) {
	for _, p := range plainPathSeeds {
		checkPlainPath(t, p)
	}
	for _, p := range []string{"/", "/hello/bench", "/v1/items/42", "/users/ada-lovelace/orders", "/a-b_c~d!$&'()*+,=:@"} {
		if !plainPath(p) {
			t.Errorf("plainPath(%q) = false", p)
		}
	}
	for _, p := range []string{"/a/", "//a", "/a.json", "/a;b", `/a\b`, "/a b", "/a\x00", "/\xc3\xa9"} {
		if plainPath(p) {
			t.Errorf("plainPath(%q) = true", p)
		}
	}
}

// FuzzPlainPath: for any path, plainPath takes it only if pathProblem and
// readsOtherwise both let it through.
func FuzzPlainPath(f *testing.F) {
	for _, p := range plainPathSeeds {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, p string) {
		checkPlainPath(t, p)
	})
}

func checkPlainPath(t *testing.T, p string) {
	t.Helper()
	if !plainPath(p) {
		return
	}
	if msg := pathProblem(p); msg != "" {
		t.Errorf("plainPath(%q) = true, but pathProblem says %q", p, msg)
	}
	if readsOtherwise(&url.URL{Path: p}) {
		t.Errorf("plainPath(%q) = true, but readsOtherwise says a backend may read it otherwise", p)
	}
}
