package hostile

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// upstreamCase is a backend that answers wrongly, behind a route of its
// own (/up/<slug>/) so that its breaker and pool are its own too.
type upstreamCase struct {
	slug   string
	name   string
	budget string // the route's budget
	answer rawAnswer
	// late, when set, is written by the test on the connection of the
	// first request once its client has the answer: bytes arriving on an
	// idle pooled connection.
	late string
	// truncated: every answer is cut short, and the client must be able to
	// tell. Otherwise the case checks that later clients get their own
	// answers.
	truncated bool
	// method, when set, is the first request's method instead of GET.
	method string
}

// unsolicited is an answer no request asked for.
const unsolicited = "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Req-Id: unsolicited\r\n\r\nEVIL!"

// okAnswer is a correct answer to the request whose X-Req-Id is id.
func okAnswer(id string) string {
	body := "answer to " + id
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Req-Id: %s\r\n\r\n%s", len(body), id, body)
}

// firstThen writes first to the first request the backend gets, and a
// correct answer to every later one, keeping connections open.
func firstThen(first func(id string) string) rawAnswer {
	return func(c net.Conn, req *http.Request, n int) bool {
		id := req.Header.Get("X-Req-Id")
		out := okAnswer(id)
		if n == 0 {
			out = first(id)
		}
		_, err := io.WriteString(c, out)
		return err == nil
	}
}

// cut writes out and closes the connection.
func cut(out func(id string) string) rawAnswer {
	return func(c net.Conn, req *http.Request, _ int) bool {
		_, _ = io.WriteString(c, out(req.Header.Get("X-Req-Id")))
		return false
	}
}

// stall writes out and then waits, writing nothing more, until the gateway
// closes the connection (or the test ends).
func stall(out func(id string) string) rawAnswer {
	return func(c net.Conn, req *http.Request, _ int) bool {
		if _, err := io.WriteString(c, out(req.Header.Get("X-Req-Id"))); err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, c)
		return false
	}
}

func chunkedHead(id string) string {
	return "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Req-Id: " + id + "\r\n\r\n"
}

// problem504Head is the head of a 504 problem answer framed by the field
// framing.
func problem504Head(id, framing string) string {
	return "HTTP/1.1 504 Gateway Timeout\r\nContent-Type: application/problem+json\r\n" + framing + "\r\nX-Req-Id: " + id + "\r\n\r\n"
}

func clHead(id string, n int) string {
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Req-Id: %s\r\n\r\n", n, id)
}

var upstreamCases = []upstreamCase{
	{slug: "extra", name: "a second answer sent right after the first", budget: "2s",
		answer: firstThen(func(id string) string { return okAnswer(id) + unsolicited })},
	{slug: "late", name: "a second answer arriving on the idle pooled connection", budget: "2s",
		answer: firstThen(okAnswer), late: unsolicited},
	{slug: "nocontent-extra", name: "204 followed at once by bytes", budget: "2s",
		answer: firstThen(func(id string) string {
			return "HTTP/1.1 204 No Content\r\nX-Req-Id: " + id + "\r\n\r\n" + unsolicited
		})},
	{slug: "nocontent-late", name: "204 then late bytes on the idle connection", budget: "2s",
		answer: firstThen(func(id string) string { return "HTTP/1.1 204 No Content\r\nX-Req-Id: " + id + "\r\n\r\n" }),
		late:   unsolicited},
	{slug: "notmodified-extra", name: "304 with a Content-Length, followed at once by that many bytes", budget: "2s",
		answer: firstThen(func(id string) string {
			return fmt.Sprintf("HTTP/1.1 304 Not Modified\r\nContent-Length: %d\r\nX-Req-Id: %s\r\n\r\n%s", len(unsolicited), id, unsolicited)
		})},
	{slug: "head-body", name: "HEAD answered with its Content-Length's bytes of body", budget: "2s", method: "HEAD",
		answer: firstThen(func(id string) string {
			return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nX-Req-Id: %s\r\n\r\n%s", len(unsolicited), id, unsolicited)
		})},
	{slug: "clte", name: "answer with Content-Length and Transfer-Encoding hiding a second answer", budget: "2s",
		answer: firstThen(func(id string) string {
			body := "0\r\n\r\n" + unsolicited
			return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\nTransfer-Encoding: chunked\r\nX-Req-Id: %s\r\n\r\n%s", len(body), id, body)
		})},
	{slug: "continue", name: "an unasked 100 Continue before the answer", budget: "2s",
		answer: firstThen(func(id string) string { return "HTTP/1.1 100 Continue\r\n\r\n" + okAnswer(id) })},
	{slug: "two-cl", name: "answer with two Content-Lengths, the longer hiding a second answer", budget: "2s",
		answer: firstThen(func(id string) string {
			body := "hello" + unsolicited
			return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: %d\r\nX-Req-Id: %s\r\n\r\n%s", len(body), id, body)
		})},
	{slug: "chunked-cut", name: "chunked answer cut after 10 of 100 bytes", budget: "2s", truncated: true,
		answer: cut(func(id string) string { return chunkedHead(id) + "64\r\n" + strings.Repeat("c", 10) })},
	{slug: "bigchunk-cut", name: "1 MiB chunk cut at 64 KiB", budget: "2s", truncated: true,
		answer: cut(func(id string) string { return chunkedHead(id) + "100000\r\n" + strings.Repeat("c", 64<<10) })},
	{slug: "chunk-zz", name: "chunk size zz", budget: "2s", truncated: true,
		answer: cut(func(id string) string { return chunkedHead(id) + "zz\r\nhello\r\n0\r\n\r\n" })},
	{slug: "cl-short", name: "Content-Length 100, 10 bytes, then close", budget: "2s", truncated: true,
		answer: cut(func(id string) string { return clHead(id, 100) + strings.Repeat("c", 10) })},
	// A 504 problem is read ahead (is it budget-too-low, which blames no
	// node?): the read must not take a cut in its first 512 bytes for the
	// body's end.
	{slug: "problem504-cut", name: "504 problem, Content-Length 300, 40 bytes, then close", budget: "2s", truncated: true,
		answer: cut(func(id string) string {
			return problem504Head(id, "Content-Length: 300") + `{"type":"urn:x:overloaded","title":"Ov`
		})},
	{slug: "problem504-chunk-cut", name: "504 problem, chunked, cut within its first chunk", budget: "2s", truncated: true,
		answer: cut(func(id string) string {
			return problem504Head(id, "Transfer-Encoding: chunked") + "64\r\n" + `{"type":"urn:x:overloaded","title":"Ov`
		})},
	{slug: "budget-chunked", name: "budget ends mid-answer (chunked, then silence)", budget: "1s", truncated: true,
		answer: stall(func(id string) string { return chunkedHead(id) + "5\r\nhello\r\n" })},
	{slug: "budget-cl", name: "budget ends mid-answer (Content-Length 100, 10 bytes, then silence)", budget: "1s", truncated: true,
		answer: stall(func(id string) string { return clHead(id, 100) + strings.Repeat("c", 10) })},
}

func upstreamAnswerCases() []hcase {
	var cases []hcase
	for _, c := range upstreamCases {
		run := checkOwnAnswers
		if c.truncated {
			run = checkTruncated
		}
		cases = append(cases, hcase{family: "upstream-answers", name: c.name, run: func(t *testing.T, s *stack) { run(t, s, c) }})
	}
	return cases
}

// firstAnswer sends one GET with X-Req-Id: id and reads its answer only.
func firstAnswer(t *testing.T, addr, target, id string) (answer, error) {
	t.Helper()
	return firstAnswerTo(t, addr, "GET", target, id)
}

// firstAnswerTo is firstAnswer with a request of method.
func firstAnswerTo(t *testing.T, addr, method, target, id string) (answer, error) {
	t.Helper()
	c := dial(t, addr)
	if _, err := io.WriteString(c, method+" "+target+" HTTP/1.1\r\nHost: h\r\nX-Req-Id: "+id+"\r\n\r\n"); err != nil {
		return answer{}, err
	}
	_ = c.SetReadDeadline(time.Now().Add(hangLimit))
	resp, err := http.ReadResponse(bufio.NewReader(c), &http.Request{Method: method})
	if err != nil {
		return answer{}, err
	}
	body, err := io.ReadAll(resp.Body)
	return answer{resp: resp, body: body, bodyErr: err}, nil
}

// checkOwnAnswers: whatever the backend sent after an answer, every later
// client gets the answer to its own request.
func checkOwnAnswers(t *testing.T, s *stack, c upstreamCase) {
	b := s.raw[c.slug]
	target := "/up/" + c.slug + "/x"
	method := c.method
	if method == "" {
		method = "GET"
	}
	a, err := firstAnswerTo(t, s.gw, method, target, "A")
	if err != nil {
		t.Fatalf("first request: %v", err)
	}
	if id := a.resp.Header.Get("X-Req-Id"); id != "" && id != "A" {
		t.Fatalf("the first client got the answer to %q", id)
	}
	if c.late != "" {
		var conn net.Conn
		timeout := time.After(hangLimit)
		for conn == nil {
			select {
			case sv := <-b.served:
				if sv.id == "A" {
					conn = sv.conn
				}
			case <-timeout:
				t.Fatal("the backend never served the first request")
			}
		}
		if _, err := io.WriteString(conn, c.late); err != nil {
			t.Fatalf("writing the late bytes: %v", err)
		}
	}
	for i := range 4 {
		id := fmt.Sprintf("B%d", i)
		a, err := firstAnswer(t, s.gw, target, id)
		if err != nil {
			t.Fatalf("client %s: %v", id, err)
		}
		if got := a.resp.Header.Get("X-Req-Id"); got != id || a.status() != http.StatusOK || a.bodyErr != nil ||
			string(a.body) != "answer to "+id {
			t.Errorf("client %s got %d, X-Req-Id %q, body %q (error %v): want its own answer", id, a.status(), got, a.body, a.bodyErr)
		}
	}
	t.Logf("the backend accepted %d connections", b.connections())
}

// checkTruncated: an answer the backend cut short never reaches the client
// as a complete one.
func checkTruncated(t *testing.T, s *stack, c upstreamCase) {
	a, err := firstAnswer(t, s.gw, "/up/"+c.slug+"/x", "T")
	switch {
	case isTimeout(err):
		t.Fatalf("no answer within %v (a hang)", hangLimit)
	case err != nil:
		return // cut before the status line: the client can tell
	}
	t.Logf("got %s", a)
	if a.resp.Header.Get("X-Req-Id") == "" {
		// The gateway's own answer: the failure was caught before the
		// header was sent.
		if a.status() < 500 || !a.isProblem() {
			t.Errorf("the gateway answered %d %q, want a 5xx problem", a.status(), a.resp.Header.Get("Content-Type"))
		}
		return
	}
	if isTimeout(a.bodyErr) {
		t.Fatalf("the body neither ended nor broke within %v (a hang)", hangLimit)
	}
	if a.bodyErr == nil {
		t.Errorf("a truncated answer was delivered as complete: %d, %d body bytes, Content-Length %q, Transfer-Encoding %v",
			a.status(), len(a.body), a.resp.Header.Get("Content-Length"), a.resp.TransferEncoding)
	}
}
