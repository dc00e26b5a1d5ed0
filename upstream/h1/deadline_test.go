package h1

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/leanctx"
)

// The tests below hold RoundTripBy to what RoundTrip does under a context
// with the same deadline: the same kind of failure at the same stage (the
// cause in parentheses names addresses), and a clean connection after a
// round trip that ended in time.

// byDeadline is a round trip cut at d from now, either way: through a
// context with that deadline, or RoundTripBy. It returns the body read, or
// the error of the round trip or of reading the body.
type byDeadline func(tr *Transport, req *http.Request, d time.Duration) (string, error)

var deadlineWays = []struct {
	name string
	rt   byDeadline
}{
	{"context", func(tr *Transport, req *http.Request, d time.Duration) (string, error) {
		ctx, cancel := context.WithDeadline(req.Context(), time.Now().Add(d))
		defer cancel()
		return readResp(tr.RoundTrip(req.WithContext(ctx)))
	}},
	{"RoundTripBy", func(tr *Transport, req *http.Request, d time.Duration) (string, error) {
		return readResp(tr.RoundTripBy(req, time.Now().Add(d)))
	}},
	// A lean context arms no timer for its deadline: the conn's timer cuts
	// the round trip, as with RoundTripBy, and the result must be the same.
	{"leanctx", func(tr *Transport, req *http.Request, d time.Duration) (string, error) {
		ctx := leanctx.WithDeadline(req.Context(), time.Now().Add(d))
		defer ctx.Cancel()
		return readResp(tr.RoundTrip(req.WithContext(ctx)))
	}},
	{"leanctx with values", func(tr *Transport, req *http.Request, d time.Duration) (string, error) {
		ctx := leanctx.WithDeadline(req.Context(), time.Now().Add(d))
		defer ctx.Cancel()
		return readResp(tr.RoundTrip(req.WithContext(context.WithValue(ctx, "k", "v"))))
	}},
}

func readResp(resp *http.Response, err error) (string, error) {
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// outline is what must be the same either way: the body, and the error
// without its cause in parentheses, and what it wraps.
type outline struct {
	body, err           string
	deadline, unwritten bool
}

func outlineOf(body string, err error) outline {
	o := outline{body: body}
	if err != nil {
		o.err, _, _ = strings.Cut(err.Error(), " (")
		o.deadline = errors.Is(err, context.DeadlineExceeded)
		o.unwritten = errors.Is(err, ErrNothingWritten)
	}
	return o
}

func TestRoundTripByAsAContextDeadline(t *testing.T) {
	cases := []struct {
		name  string
		serve func(t *testing.T) (*Transport, string, func())
		req   func(t *testing.T, url string) *http.Request
		d     time.Duration
		want  outline
	}{
		{"no answer", func(t *testing.T) (*Transport, string, func()) {
			url, _ := rawServer(t, stalling("", make(chan struct{}, 1)))
			tr, _ := newTransport(t)
			return tr, url, nil
		}, getReq, 100 * time.Millisecond, outline{err: "h1: read response header: context deadline exceeded", deadline: true}},
		{"body stalls", func(t *testing.T) (*Transport, string, func()) {
			url, _ := rawServer(t, stalling("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\npart", make(chan struct{}, 1)))
			tr, _ := newTransport(t)
			return tr, url, nil
		}, getReq, time.Second, outline{body: "part", err: "h1: read body: context deadline exceeded", deadline: true}},
		{"deadline passed", func(t *testing.T) (*Transport, string, func()) {
			url, _ := rawServer(t, keepAlive("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
			tr, _ := newTransport(t)
			return tr, url, nil
		}, getReq, -time.Second, outline{err: "h1: context deadline exceeded: h1: nothing written", deadline: true, unwritten: true}},
		{"no connection free", func(t *testing.T) (*Transport, string, func()) {
			url, _ := rawServer(t, keepAlive("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
			tr, _ := newTransport(t)
			tr.MaxConnsPerHost = 1
			held, err := tr.RoundTrip(getReq(t, url)) // its body keeps the only conn
			if err != nil {
				t.Fatal(err)
			}
			return tr, url, func() { held.Body.Close() }
		}, getReq, 100 * time.Millisecond, outline{err: "h1: waiting for a connection to", deadline: true, unwritten: true}},
		{"fallback, no answer", func(t *testing.T) (*Transport, string, func()) {
			url, _ := rawServer(t, stalling("", make(chan struct{}, 1)))
			tr, _ := newTransport(t)
			return tr, url, nil
		}, func(t *testing.T, url string) *http.Request {
			req := mustReq(t, "PUT", url, "body")
			req.Header.Set("Upgrade", "test") // a request for Fallback
			req.Header.Set("Connection", "Upgrade")
			return req
		}, 100 * time.Millisecond, outline{err: "context deadline exceeded", deadline: true}},
		{"in time", func(t *testing.T) (*Transport, string, func()) {
			url, _ := rawServer(t, keepAlive("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
			tr, _ := newTransport(t)
			return tr, url, nil
		}, getReq, 10 * time.Second, outline{body: "ok"}},
	}
	for _, tc := range cases {
		for _, way := range deadlineWays {
			t.Run(tc.name+"/"+way.name, func(t *testing.T) {
				tr, url, done := tc.serve(t)
				got := outlineOf(way.rt(tr, tc.req(t, url), tc.d))
				if done != nil {
					done()
				}
				if tc.want.err != "" && strings.HasPrefix(got.err, tc.want.err) {
					got.err = tc.want.err // the rest names the address
				}
				if got != tc.want {
					t.Errorf("got %+v, want %+v", got, tc.want)
				}
			})
		}
	}
}

// TestRoundTripByLeavesTheConnClean: a round trip that ended in time leaves
// no deadline on its conn: the next round trip reuses it after the
// deadline passed.
func TestRoundTripByLeavesTheConnClean(t *testing.T) {
	url, accepts := rawServer(t, keepAlive("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"))
	tr, _ := newTransport(t)
	deadline := time.Now().Add(100 * time.Millisecond)
	if body, err := readResp(tr.RoundTripBy(getReq(t, url), deadline)); err != nil || body != "ok" {
		t.Fatalf("body %q, %v", body, err)
	}
	time.Sleep(time.Until(deadline) + 10*time.Millisecond)
	if code, body := get(t, tr, url); code != 200 || body != "ok" {
		t.Fatalf("%d %q", code, body)
	}
	if n := accepts.Load(); n != 1 {
		t.Fatalf("%d conns, want 1", n)
	}
}

func getReq(t *testing.T, url string) *http.Request { return mustReq(t, "GET", url, "") }

// TestRoundTripAtAsACopy holds RoundTripAt(req, addr, d) to sending a copy
// of req whose URL's host is addr, with RoundTripBy (or RoundTrip for a zero
// d): the server gets the same request, the caller the same answer; req
// itself is sent, not a copy, unless it goes to Fallback or has no Host.
func TestRoundTripAtAsACopy(t *testing.T) {
	type seen struct{ line, host string }
	srvSeen := make(chan seen, 4)
	url, _ := rawServer(t, func(nc net.Conn, br *bufio.Reader) {
		for {
			req, ok := readRequest(br)
			if !ok {
				return
			}
			srvSeen <- seen{req.Method + " " + req.RequestURI, req.Host}
			if req.Header.Get("Upgrade") != "" {
				io.WriteString(nc, "HTTP/1.1 400 Bad Request\r\nContent-Length: 2\r\nConnection: close\r\n\r\nno")
				return
			}
			io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	addr := strings.TrimPrefix(url, "http://")
	for _, tc := range []struct {
		name     string
		host     string
		upgrade  bool
		deadline time.Duration
		asIs     bool
	}{
		{"no deadline", "api.example", false, 0, true},
		{"deadline", "api.example", false, 10 * time.Second, true},
		{"no Host", "", false, time.Second, false},
		{"to Fallback", "api.example", true, time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, _ := newTransport(t)
			mk := func(target string) *http.Request {
				req := mustReq(t, "GET", target, "")
				req.Host = tc.host
				if tc.upgrade {
					req.Header.Set("Upgrade", "test")
					req.Header.Set("Connection", "Upgrade")
				}
				return req
			}
			// The reference: a copy aimed at addr.
			ref := mk("http://" + addr + "/p?q=1")
			var resp *http.Response
			var err error
			if tc.deadline == 0 {
				resp, err = tr.RoundTrip(ref)
			} else {
				resp, err = tr.RoundTripBy(ref, time.Now().Add(tc.deadline))
			}
			wantBody, wantErr := readResp(resp, err)
			want := <-srvSeen

			req := mk("http://svc.internal/p?q=1") // a name no resolver knows
			var dl time.Time
			if tc.deadline != 0 {
				dl = time.Now().Add(tc.deadline)
			}
			resp, err = tr.RoundTripAt(req, addr, dl)
			sentAsIs := err == nil && resp.Request == req
			body, err := readResp(resp, err)
			if body != wantBody || (err == nil) != (wantErr == nil) {
				t.Fatalf("answer %q, %v; a copy got %q, %v", body, err, wantBody, wantErr)
			}
			if got := <-srvSeen; got != want {
				t.Errorf("the server saw %+v; from a copy %+v", got, want)
			}
			if sentAsIs != tc.asIs {
				t.Errorf("req sent as it is: %v, want %v", sentAsIs, tc.asIs)
			}
			if req.URL.Host != "svc.internal" {
				t.Errorf("req's URL changed to %s", req.URL)
			}
		})
	}
}

// TestRoundTripByClosesTheConnAtTheDeadline: when the deadline passes while
// nobody reads the answer's body, the conn is closed at once, either way,
// so that the server learns that its answer is unwanted.
func TestRoundTripByClosesTheConnAtTheDeadline(t *testing.T) {
	for _, way := range deadlineWays {
		t.Run(way.name, func(t *testing.T) {
			closed := make(chan struct{})
			url, _ := rawServer(t, func(nc net.Conn, br *bufio.Reader) {
				if _, ok := readRequest(br); !ok {
					return
				}
				io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\npart")
				io.Copy(io.Discard, nc) // until the client closes
				close(closed)
			})
			tr, _ := newTransport(t)
			deadline := time.Now().Add(200 * time.Millisecond)
			var resp *http.Response
			var err error
			switch way.name {
			case "context":
				ctx, cancel := context.WithDeadline(context.Background(), deadline)
				defer cancel()
				resp, err = tr.RoundTrip(getReq(t, url).WithContext(ctx))
			case "leanctx", "leanctx with values":
				ctx := leanctx.WithDeadline(context.Background(), deadline)
				defer ctx.Cancel()
				resp, err = tr.RoundTrip(getReq(t, url).WithContext(ctx))
			default:
				resp, err = tr.RoundTripBy(getReq(t, url), deadline)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			select { // the body is not read meanwhile
			case <-closed:
			case <-time.After(10 * time.Second):
				t.Fatal("the conn was still open 10s after the deadline")
			}
		})
	}
}
