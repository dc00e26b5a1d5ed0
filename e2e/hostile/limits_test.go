package hostile

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// headerLimit is the gateway's request header limit (the listeners'
// MaxHeaderBytes): request line and fields.
const headerLimit = 64 << 10

// limitRow is a request of a given header size or shape.
type limitRow struct {
	name string
	req  func(id string) string
	// fits: the gateway must forward it; otherwise it must refuse it with
	// one of refuseWith (a problem body), then close.
	fits       bool
	refuseWith []int
	// orRefuse lets a request that fits be refused with refuseWith too.
	orRefuse bool
}

// padded is a GET of /lim/<id>/x whose header block, with its final blank
// line, is exactly total bytes, made so by one X-Pad field.
func padded(total int) func(string) string {
	return func(id string) string {
		start := "GET /lim/" + id + "/x HTTP/1.1\r\nHost: h\r\nX-Pad: "
		end := "\r\nConnection: close\r\n\r\n"
		return start + strings.Repeat("p", total-len(start)-len(end)) + end
	}
}

// longURI is a GET whose request-target is about n bytes.
func longURI(n int) func(string) string {
	return func(id string) string {
		p := "/lim/" + id + "/"
		return "GET " + p + strings.Repeat("u", n-len(p)) + " HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
	}
}

// manyFields is a GET with n fields of about 16 bytes each.
func manyFields(n int) func(string) string {
	return func(id string) string {
		var b strings.Builder
		b.WriteString("GET /lim/" + id + "/x HTTP/1.1\r\nHost: h\r\n")
		for i := range n {
			fmt.Fprintf(&b, "X-F%06d: v\r\n", i)
		}
		b.WriteString("Connection: close\r\n\r\n")
		return b.String()
	}
}

func limitRows() []limitRow {
	tooLarge := []int{http.StatusRequestHeaderFieldsTooLarge}
	uriTooLong := []int{http.StatusRequestURITooLong, http.StatusRequestHeaderFieldsTooLarge, http.StatusBadRequest}
	return []limitRow{
		{name: "header just under the limit (60 KiB)", req: padded(60 << 10), fits: true},
		{name: "header exactly at the limit (64 KiB with the request line)", req: padded(headerLimit), fits: true},
		{name: "header over the limit (a 70,000-byte field)", req: padded(70000 + 100), refuseWith: tooLarge},
		{name: "header far over the limit (1 MiB)", req: padded(1 << 20), refuseWith: tooLarge},
		{name: "URI of 8 KiB", req: longURI(8 << 10), fits: true},
		{name: "URI of 60 KiB, under the header limit", req: longURI(60 << 10), fits: true, orRefuse: true, refuseWith: uriTooLong},
		{name: "URI of 100 KiB, over the header limit", req: longURI(100 << 10), refuseWith: uriTooLong},
		{name: "500 fields under the limit", req: manyFields(500), fits: true},
		{name: "10,000 fields over the limit", req: manyFields(10000), refuseWith: tooLarge},
	}
}

func limitCases() []hcase {
	var cases []hcase
	for i, row := range limitRows() {
		id := fmt.Sprintf("l%02d", i)
		cases = append(cases, hcase{family: "limits", name: row.name, run: func(t *testing.T, s *stack) {
			x := send(t, s.gw, row.req(id))
			if !x.closed() {
				t.Fatalf("no end within %v (a hang): %v", hangLimit, x)
			}
			if len(x.answers) != 1 {
				t.Fatalf("%d answers, want 1: %v", len(x.answers), x)
			}
			a := x.answers[0]
			if a.fromBackend() {
				if !row.fits {
					t.Fatalf("forwarded to the backend (%d), want a refusal with one of %v", a.status(), row.refuseWith)
				}
				if got := len(s.echo.complete("/lim/" + id + "/")); got != 1 {
					t.Fatalf("the backend completed %d requests, want 1", got)
				}
				return
			}
			if row.fits && !row.orRefuse {
				t.Fatalf("refused with %d (%s), want it forwarded", a.status(), a.body)
			}
			if !contains(row.refuseWith, a.status()) {
				t.Errorf("refused with %d, want one of %v", a.status(), row.refuseWith)
			}
			if !a.isProblem() {
				t.Errorf("refused with Content-Type %q, want application/problem+json", a.resp.Header.Get("Content-Type"))
			}
			if n := len(s.echo.matching("/lim/" + id + "/")); n != 0 {
				t.Errorf("refused, yet the backend got %d requests", n)
			}
		}})
	}
	return cases
}

func contains(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}
