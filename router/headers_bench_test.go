package router

import (
	"net/http"
	"testing"
)

// BenchmarkOutboundHeader prices the header of a forwarded request, for a
// browser's request of nine fields.
func BenchmarkOutboundHeader(b *testing.B) {
	r := &http.Request{Host: "api.example", RemoteAddr: "192.0.2.1:40000", Header: http.Header{
		"Accept":          {"application/json"},
		"Accept-Encoding": {"gzip, deflate, br"},
		"Accept-Language": {"en-GB,en;q=0.9"},
		"Cookie":          {"session=abc"},
		"Referer":         {"https://app.example/"},
		"User-Agent":      {"Mozilla/5.0"},
		"Sec-Fetch-Mode":  {"cors"},
		"Connection":      {"keep-alive"},
		"X-Request-Id":    {"966774cd027e6801ab4eeeb8d3e80f37"},
	}}
	var vals [3]string
	b.ReportAllocs()
	for b.Loop() {
		if h := outboundHeader(r, &vals); len(h) != 11 {
			b.Fatalf("%d fields, want 11", len(h))
		}
	}
}
