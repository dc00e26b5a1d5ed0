package h1

import (
	"bufio"
	"net/http"
	"net/http/httptrace"
	"net/textproto"

	"golang.org/x/net/http/httpguts"
)

// defaultUserAgent is what Request.Write sends when the request has no
// User-Agent field.
const defaultUserAgent = "Go-http-client/1.1"

// writeRequest writes a request without a body, the common case of a proxied
// request, as (*http.Request).Write would, minus its cost (a transfer writer,
// fmt formatting, a sorted copy of the field names): the same request line,
// Host, User-Agent and Content-Length rules, the fields in map order. It
// returns false, having written nothing, for every request it does not
// handle or that Request.Write would refuse, which the caller then gives to
// Request.Write. inspect must have accepted req. FuzzWriteRequest holds it
// to Request.Write's output.
func writeRequest(bw *bufio.Writer, req *http.Request) bool {
	b, ok := appendRequest(bw.AvailableBuffer(), req)
	if ok {
		bw.Write(b)
	}
	return ok
}

// appendRequest is writeRequest appending to b: it returns b with the
// request, or b unchanged and false.
func appendRequest(b []byte, req *http.Request) ([]byte, bool) {
	if req.Body != nil && req.Body != http.NoBody || req.ContentLength != 0 ||
		req.Close || len(req.TransferEncoding) > 0 || len(req.Trailer) > 0 ||
		req.Method == http.MethodConnect || req.URL.Opaque != "" ||
		httptrace.ContextClientTrace(req.Context()) != nil {
		return b, false
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !plainHost(host) {
		return b, false // punycode, zones, or an invalid host: Request.Write's work
	}
	uri := req.URL.RequestURI()
	for i := 0; i < len(uri); i++ {
		if c := uri[i]; c < ' ' || c == 0x7f {
			return b, false // Request.Write refuses it
		}
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, uri...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\n"...)
	ua := defaultUserAgent
	if v, ok := req.Header["User-Agent"]; ok {
		ua = ""
		if len(v) > 0 {
			ua = v[0]
		}
	}
	if ua != "" { // as Request.Write: a value of spaces is sent, trimmed to nothing
		b = append(b, "User-Agent: "...)
		b = append(b, textproto.TrimString(ua)...)
		b = append(b, "\r\n"...)
	}
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		b = append(b, "Content-Length: 0\r\n"...)
	}
	for k, vv := range req.Header {
		switch k {
		case "Host", "User-Agent", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		for _, v := range vv {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, textproto.TrimString(v)...)
			b = append(b, "\r\n"...)
		}
	}
	b = append(b, "\r\n"...)
	return b, true
}

// plainHost reports whether host is an ASCII Host value without an IPv6
// zone that Request.Write would send unchanged.
func plainHost(host string) bool {
	for i := 0; i < len(host); i++ {
		if b := host[i]; b >= 0x80 || b == '%' {
			return false
		}
	}
	return host != "" && httpguts.ValidHostHeader(host)
}
