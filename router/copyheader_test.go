package router

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
)

// copyHeaderByLookup is copyHeader's definition: every field of src is
// looked up in dst.
func copyHeaderByLookup(dst, src http.Header) {
	var buf [4]string
	named := connectionNamed(buf[:0], src)
	for k, vv := range src {
		if !crosses(k, named) {
			continue
		}
		if prior, owned := dst[k]; owned {
			if k == "Vary" {
				dst[k] = append(prior[:len(prior):len(prior)], vv...)
			}
			continue
		}
		dst[k] = vv
	}
}

// TestCopyHeaderMatchesLookup: whether the edge set none of the answer's
// fields, a few (listed and compared) or more than four (looked up), the
// answer's fields cross as by the definition: hop-by-hop fields and those
// its Connection names stay behind, the edge's fields are kept (one it set
// with no value too: a field it owns and sends none of), and Vary's values
// are added to the edge's.
func TestCopyHeaderMatchesLookup(t *testing.T) {
	src := http.Header{
		"Content-Type":  {"text/plain"},
		"Vary":          {"Accept-Encoding"},
		"X-Custom":      {"node"},
		"Connection":    {"x-private"},
		"X-Private":     {"hop"},
		"Keep-Alive":    {"timeout=5"},
		"Empty-At-Edge": {"node"},
	}
	for n := 0; n <= 6; n++ {
		edge := http.Header{}
		for i := range n {
			switch i {
			case 0:
				edge["X-Request-Id"] = []string{"id"}
			case 1:
				edge["Vary"] = []string{"Origin"}
			case 2:
				edge["X-Custom"] = []string{"edge"}
			case 3:
				edge["Empty-At-Edge"] = []string{}
			default:
				edge[fmt.Sprintf("Access-Control-%d", i)] = []string{"x"}
			}
		}
		got, want := edge.Clone(), edge.Clone()
		copyHeader(got, src.Clone(), connectionNamed(nil, src))
		copyHeaderByLookup(want, src.Clone())
		if !reflect.DeepEqual(got, want) {
			t.Errorf("with %d fields set by the edge:\n got %v\nwant %v", n, got, want)
		}
		if n >= 2 && len(got["Vary"]) != 2 {
			t.Errorf("with %d fields set by the edge: Vary %q, want the edge's and the node's", n, got["Vary"])
		}
		if n >= 4 && len(got["Empty-At-Edge"]) != 0 {
			t.Errorf("with %d fields set by the edge: Empty-At-Edge %q, want the edge's none", n, got["Empty-At-Edge"])
		}
		if _, ok := got["X-Private"]; ok {
			t.Errorf("with %d fields set by the edge: a field Connection names crossed", n)
		}
	}
}

// TestDropHopByHopMatchesCopy: the backend's header, adopted as the
// answer's with its hop-by-hop fields and those its Connection names
// dropped in place, holds what copyHeader puts in a map the edge left
// empty, whatever the Connection field names (in any case, with spaces
// and empty elements, over several lines).
func TestDropHopByHopMatchesCopy(t *testing.T) {
	for _, conn := range [][]string{
		nil,
		{"close"},
		{"x-private"},
		{" X-Private ,, keep-alive", "vary"},
		{"X-PRIVATE, Content-Type", "x-custom"},
	} {
		src := http.Header{
			"Content-Type":        {"text/plain"},
			"Vary":                {"Accept-Encoding"},
			"X-Custom":            {"node", "again"},
			"X-Private":           {"hop"},
			"Keep-Alive":          {"timeout=5"},
			"Proxy-Connection":    {"keep-alive"},
			"Proxy-Authenticate":  {"Basic"},
			"Proxy-Authorization": {"Basic eA=="},
			"Te":                  {"trailers"},
			"Trailer":             {"X-Sum"},
			"Transfer-Encoding":   {"chunked"},
			"Upgrade":             {"h2c"},
		}
		if conn != nil {
			src["Connection"] = conn
		}
		want := http.Header{}
		copyHeader(want, src.Clone(), connectionNamed(nil, src))
		got := src.Clone()
		dropHopByHop(got, connectionNamed(nil, got))
		if !reflect.DeepEqual(got, want) {
			t.Errorf("Connection %q:\n got %v\nwant %v", conn, got, want)
		}
	}
}

// FuzzConnectionNamed: whatever the Connection fields name, few names or
// many (sorted and searched past scannedNames), crosses leaves out exactly
// the hop-by-hop fields and those a Connection token names, in any case.
func FuzzConnectionNamed(f *testing.F) {
	f.Add("x-a, X-B,x-c", "X-A")
	f.Add("a,b,c,d,e,f,g,h,i,j,k,l,x-hop, X-HOP ,a", "X-Hop")
	f.Add("close, keep-alive, te, upgrade, x-1, x-2, x-3, x-4, x-5, x-6, x-7, x-8", "X-9")
	f.Fuzz(func(t *testing.T, connection, field string) {
		h := http.Header{"Connection": strings.Split(connection, "\n")}
		named := connectionNamed(nil, h)
		k := http.CanonicalHeaderKey(field)
		want := !hopByHop(k)
		for _, v := range h["Connection"] {
			for tok := range strings.SplitSeq(v, ",") {
				if tok = strings.TrimSpace(tok); tok != "" && http.CanonicalHeaderKey(tok) == k {
					want = false
				}
			}
		}
		if got := crosses(k, named); got != want {
			t.Errorf("Connection %q: crosses(%q) = %v, want %v (named %q)", connection, k, got, want, named)
		}
	})
}
