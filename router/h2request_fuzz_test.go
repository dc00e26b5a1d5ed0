package router_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/http/httpguts"

	"github.com/sluicehq/sluice/router"
)

// FuzzH2RequestTarget fuzzes what the router makes of an HTTP/2 request's
// :authority and :path, which net/http's HTTP/2 server hands on as they
// came (h2request.go): whatever they hold, the router refuses the request
// (400), or the backend reads the forward with http.ReadRequest as a
// well-formed HTTP/1.1 request of the same Host, the same decoded path and
// the same query. It holds the router to what found the request-line
// injection of a space in the query.
func FuzzH2RequestTarget(f *testing.F) {
	for _, s := range [][2]string{
		{"gw.test", "/t?q=a HTTP/1.1"}, {"a b", "/t"}, {"", "/t"}, {"gw.test:8443", "/a%2Fb/c?x=1&y=%20"},
		{"[::1]:80", "/p%41th?q#frag"}, {"gw.test", "/caf\xc3\xa9?\x80=1"}, {"a:b:c", "/t?"},
		{"gw.test", "/a b/c"}, {"gw.test", "/t?q=a\tb"}, {"xn--caf-dma.test", "/%7e/x;y=1"},
	} {
		f.Add(s[0], s[1])
	}
	got := make(chan forwarded, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { ln.Close() })
	go readRequests(ln, got)
	s := &setup{}
	s.node("any", ln.Addr().String())
	rt := s.build(f, router.Route{Method: "GET", Path: "/*", Service: "any", Budget: policy})
	f.Fuzz(func(t *testing.T, host, target string) {
		// What net/http's HTTP/2 server refuses: field values with control
		// characters, userinfo in the authority, a path ParseRequestURI
		// refuses.
		if !httpguts.ValidHeaderFieldValue(host) || !httpguts.ValidHeaderFieldValue(target) || strings.Contains(host, "@") {
			t.Skip()
		}
		u, err := url.ParseRequestURI(target)
		if err != nil || !strings.HasPrefix(target, "/") {
			t.Skip()
		}
		r := h2Request(host, target)
		r.URL = u
		rec := serve(rt, r)
		if rec.Code == http.StatusBadRequest {
			select {
			case fw := <-got:
				t.Fatalf("refused with 400, yet the backend got %+v", fw)
			default:
			}
			return
		}
		if rec.Code != http.StatusOK {
			t.Fatalf("Host %q, :path %q: answered %d %s", host, target, rec.Code, rec.Body)
		}
		fw := <-got
		switch {
		case fw.err != nil:
			t.Fatalf("Host %q, :path %q: the backend could not read the forward: %v", host, target, fw.err)
		case fw.host != host || fw.path != u.Path || fw.query != u.RawQuery:
			t.Fatalf("Host %q, :path %q (path %q, query %q): the backend read Host %q, path %q, query %q",
				host, target, u.Path, u.RawQuery, fw.host, fw.path, fw.query)
		}
	})
}

// forwarded is what readRequests read of a request: its Host, decoded path
// and query, or why http.ReadRequest refused it.
type forwarded struct {
	host, path, query string
	err               error
}

// readRequests reads the requests of every connection to ln with
// http.ReadRequest, sends what it read of each to got and answers 200; a
// request it cannot read ends its connection.
func readRequests(ln net.Listener, got chan<- forwarded) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			br := bufio.NewReader(c)
			for {
				req, err := http.ReadRequest(br)
				if err != nil {
					if err != io.EOF {
						got <- forwarded{err: err}
					}
					return
				}
				got <- forwarded{host: req.Host, path: req.URL.Path, query: req.URL.RawQuery}
				if _, err := c.Write([]byte("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")); err != nil {
					return
				}
			}
		}()
	}
}
