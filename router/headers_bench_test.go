package router

import (
	"maps"
	"net/http"
	"testing"
)

// BenchmarkOutboundHeader prices the header of a forwarded request, for a
// browser's request of nine fields. outboundHeader edits the request's
// header, so each turn first copies the client's fields back into it (a
// map cleared, without allocating), and that copy is counted too.
func BenchmarkOutboundHeader(b *testing.B) {
	client := http.Header{
		"Accept":          {"application/json"},
		"Accept-Encoding": {"gzip, deflate, br"},
		"Accept-Language": {"en-GB,en;q=0.9"},
		"Cookie":          {"session=abc"},
		"Referer":         {"https://app.example/"},
		"User-Agent":      {"Mozilla/5.0"},
		"Sec-Fetch-Mode":  {"cors"},
		"Connection":      {"keep-alive"},
		"X-Request-Id":    {"966774cd027e6801ab4eeeb8d3e80f37"},
	}
	r := &http.Request{Host: "api.example", RemoteAddr: "192.0.2.1:40000", Header: client.Clone()}
	var vals [3]string
	b.ReportAllocs()
	for b.Loop() {
		clear(r.Header)
		maps.Copy(r.Header, client)
		if h := outboundHeader(r, &vals); len(h) != 11 {
			b.Fatalf("%d fields, want 11", len(h))
		}
	}
}
