package h1

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"
)

func echo(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Method", r.Method)
	w.Header().Set("X-TE", fmt.Sprint(r.TransferEncoding))
	w.Header().Set("X-CL", strconv.FormatInt(r.ContentLength, 10))
	b, _ := io.ReadAll(r.Body) // all before answering, as HTTP/1 servers need
	w.Write(b)
}

func TestGetPost(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "GET" {
			io.WriteString(w, "hello "+r.URL.Path)
			return
		}
		echo(w, r)
	})
	tr, _ := newTransport(t)
	if code, body := get(t, tr, s.URL+"/x"); code != 200 || body != "hello /x" {
		t.Fatalf("GET: %d %q", code, body)
	}
	resp, err := tr.RoundTrip(mustReq(t, "POST", s.URL, "payload"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(b) != "payload" || resp.Header.Get("X-CL") != "7" {
		t.Fatalf("POST: %q %v %v", b, err, resp.Header)
	}
}

func TestKeepAliveReuse(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	tr, d := newTransport(t)
	for i := 0; i < 20; i++ {
		if code, body := get(t, tr, s.URL); code != 200 || body != "ok" {
			t.Fatalf("%d: %d %q", i, code, body)
		}
	}
	if n := d.dials.Load(); n != 1 {
		t.Fatalf("20 sequential requests dialled %d times, want 1", n)
	}
}

func TestConcurrencyBound(t *testing.T) {
	const limit = 4
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, r.URL.RawQuery) })
	tr, d := newTransport(t)
	tr.MaxConnsPerHost = limit
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for g := 0; g < 50; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 20; i++ {
				q := fmt.Sprintf("g%di%d", g, i)
				req := mustReq(t, "GET", s.URL+"/?"+q, "")
				resp, err := tr.RoundTrip(req)
				if err != nil {
					errs <- err
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || string(b) != q {
					errs <- fmt.Errorf("%s: got %q, %v", q, b, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	_, srvMax := s.counts()
	if m := d.maxOpen.Load(); m > limit || srvMax > limit {
		t.Fatalf("max concurrent conns: client %d, server %d; limit %d", m, srvMax, limit)
	}
	if n := d.dials.Load(); n > limit {
		t.Fatalf("%d dials, want at most %d (all kept alive)", n, limit)
	}
}

func TestLargeBodies(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<19) // 8 MiB
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "GET" {
			w.Write(big)
			return
		}
		h := sha256.New()
		n, _ := io.Copy(h, r.Body)
		fmt.Fprintf(w, "%d %x %v", n, h.Sum(nil), r.TransferEncoding)
	})
	tr, d := newTransport(t)
	// The pools' clock stands still: a POST takes only a conn idle for
	// less than fragileIdle (idle.go), and on a loaded machine the work
	// between the download and the upload (8 MiB hashed and copied, under
	// -race) took that long, so that the upload dialed a second conn. That
	// rule has tests of its own (idle_test.go); this one is about bodies.
	clock := &fakeClock{now: time.Now()}
	tr.now = clock.read
	for i := 0; i < 2; i++ {
		_, body := get(t, tr, s.URL)
		if body != string(big) {
			t.Fatalf("download: got %d bytes", len(body))
		}
		want := fmt.Sprintf("%d %x []", len(big), sha256.Sum256(big))
		resp, err := tr.RoundTrip(mustReq(t, "POST", s.URL, string(big)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != want {
			t.Fatalf("upload: server saw %q, want %q", b, want)
		}
	}
	if n := d.dials.Load(); n != 1 {
		t.Fatalf("%d dials, want 1", n)
	}
}

func TestUnknownLengthRequestBody(t *testing.T) {
	s := newServer(t, echo)
	tr, d := newTransport(t)
	for i := 0; i < 3; i++ {
		pr, pw := io.Pipe()
		go func() {
			for j := 0; j < 100; j++ {
				fmt.Fprintf(pw, "chunk %d;", j)
			}
			pw.Close()
		}()
		req, _ := http.NewRequest("PUT", s.URL, pr)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var want bytes.Buffer
		for j := 0; j < 100; j++ {
			fmt.Fprintf(&want, "chunk %d;", j)
		}
		if string(b) != want.String() || resp.Header.Get("X-TE") != "[chunked]" {
			t.Fatalf("got %q, TE %q", b, resp.Header.Get("X-TE"))
		}
	}
	if n := d.dials.Load(); n != 1 {
		t.Fatalf("%d dials, want 1", n)
	}
}

func TestNoBodyAnswers(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(204)
		case "/304":
			w.WriteHeader(304)
		default:
			w.Header().Set("Content-Length", "1000")
			if r.Method != "HEAD" {
				w.Write(make([]byte, 1000))
			}
		}
	})
	tr, d := newTransport(t)
	for _, c := range []struct {
		method, path string
		code         int
		cl           int64
	}{{"HEAD", "/", 200, 1000}, {"GET", "/204", 204, 0}, {"GET", "/304", 304, 0}, {"HEAD", "/", 200, 1000}} {
		resp, err := tr.RoundTrip(mustReq(t, c.method, s.URL+c.path, ""))
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || len(b) != 0 || resp.StatusCode != c.code || resp.ContentLength != c.cl {
			t.Fatalf("%s %s: %d, CL %d, body %q, %v", c.method, c.path, resp.StatusCode, resp.ContentLength, b, err)
		}
	}
	if n := d.dials.Load(); n != 1 {
		t.Fatalf("%d dials, want 1", n)
	}
}
