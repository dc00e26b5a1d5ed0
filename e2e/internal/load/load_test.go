package load

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

// answer is the body of the test backend: the node and what it was sent.
type answer struct {
	Node    string `json:"node"`
	Retries int    `json:"retries"`
	Path    string `json:"path"`
	Header  string `json:"header"`
}

func backend(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/busy" {
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Sluice-Retry", "no")
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"type":"busy"}`))
			return
		}
		_ = json.NewEncoder(w).Encode(answer{Node: "a", Retries: 2, Path: r.URL.Path, Header: r.Header.Get("X-Test")})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func decode(h *Hit, b []byte) error {
	var a answer
	if err := json.Unmarshal(b, &a); err != nil {
		return err
	}
	if h.Status == http.StatusOK {
		if a.Path != h.Path {
			return errors.New("the backend was sent " + a.Path)
		}
		h.Node, h.Retries = a.Node+a.Header, a.Retries
	}
	return nil
}

// TestLoadSendsWhatNextMakesAndKeepsEveryAnswer runs a load to its limit,
// evenly spaced and as a Poisson process: every tick is sent (or counted
// as skipped) as Next made it, and every answer is kept as Decode read it.
func TestLoadSendsWhatNextMakesAndKeepsEveryAnswer(t *testing.T) {
	for _, poisson := range []bool{false, true} {
		t.Run("poisson="+strconv.FormatBool(poisson), func(t *testing.T) {
			srv := backend(t)
			l := Start(t, srv.URL, Config{Rate: 200, Workers: 4, Limit: 300 * time.Millisecond, Poisson: poisson,
				Decode: decode, Next: func(i int) Request {
					id := "r" + strconv.Itoa(i)
					return Request{Method: http.MethodGet, Path: "/x/" + id, ID: id, Header: http.Header{"X-Test": {"!"}}}
				}})
			l.Wait(t)
			hs := l.Hits()
			if len(hs) == 0 {
				t.Fatalf("no request sent (%d ticks skipped)", l.Skipped())
			}
			seen := map[string]bool{}
			for _, h := range hs {
				if !h.OK() || h.Node != "a!" || h.Retries != 2 || h.Path != "/x/"+h.ID || h.End.Before(h.Start) {
					t.Errorf("hit %s: want a success from a! after 2 retries, to /x/ID", h)
				}
				if seen[h.ID] {
					t.Errorf("id %s sent twice", h.ID)
				}
				seen[h.ID] = true
			}
			if hs[0].Start.Before(l.Started()) {
				t.Errorf("a hit started at %v, before the load at %v", hs[0].Start, l.Started())
			}
		})
	}
}

// TestLoadKeepsFailures: a refusal keeps its status and retry fields, a
// body Decode cannot read and a request with no answer are errors, and
// none of them is OK.
func TestLoadKeepsFailures(t *testing.T) {
	srv := backend(t)
	paths := []string{"/busy", "/x/ok"}
	l := Start(t, srv.URL, Config{Rate: 100, Workers: 2, Limit: time.Hour, Decode: decode, Next: func(i int) Request {
		return Request{Method: http.MethodGet, Path: paths[i%2], ID: strconv.Itoa(i)}
	}})
	l.WaitFor(t, "a hit of each path", time.Minute, func(hs []Hit) bool {
		n := map[string]int{}
		for _, h := range hs {
			n[h.Path]++
		}
		return n["/busy"] > 0 && n["/x/ok"] > 0
	})
	l.Stop()
	n := len(l.Hits())
	for _, h := range l.Hits() {
		switch h.Path {
		case "/busy":
			if h.OK() || h.Err != nil || h.Status != http.StatusServiceUnavailable || h.RetryAfter != "1" || h.Retry != "no" {
				t.Errorf("hit %s: want a 503 with Retry-After 1 and Sluice-Retry no, not OK", h)
			}
		case "/x/ok":
			if !h.OK() {
				t.Errorf("hit %s: want OK", h)
			}
		}
	}
	if got := len(l.Hits()); got != n {
		t.Errorf("%d hits after Stop returned, then %d: want none sent after Stop", n, got)
	}

	bad := Start(t, srv.URL, Config{Rate: 100, Workers: 1, Limit: time.Hour,
		Decode: func(*Hit, []byte) error { return errors.New("unreadable") },
		Next:   func(int) Request { return Request{Method: http.MethodGet, Path: "/x/"} }})
	bad.WaitFor(t, "a hit", time.Minute, func(hs []Hit) bool { return len(hs) > 0 })
	bad.Stop()
	if h := bad.Hits()[0]; h.OK() || h.Err == nil || h.Err.Error() != "unreadable" || h.Status != http.StatusOK {
		t.Errorf("hit %s: want status 200 kept with Decode's error", h)
	}

	gone := Start(t, "http://127.0.0.1:0", Config{Rate: 100, Workers: 1, Limit: time.Hour, Decode: decode,
		Next: func(int) Request { return Request{Method: http.MethodGet, Path: "/x/"} }})
	gone.WaitFor(t, "a hit", time.Minute, func(hs []Hit) bool { return len(hs) > 0 })
	gone.Stop()
	if h := gone.Hits()[0]; h.OK() || h.Err == nil || h.Status != 0 {
		t.Errorf("hit %s: want a transport error and no status", h)
	}
}

func TestBetweenAndSince(t *testing.T) {
	t0 := time.Now()
	hs := make([]Hit, 4)
	for i := range hs {
		hs[i] = Hit{Request: Request{ID: strconv.Itoa(i)}, Start: t0.Add(time.Duration(i) * time.Second)}
	}
	ids := func(hs []Hit) string {
		s := ""
		for _, h := range hs {
			s += h.ID
		}
		return s
	}
	if got := ids(Between(hs, t0.Add(time.Second), t0.Add(3*time.Second))); got != "12" {
		t.Errorf("Between [1s, 3s) = %q, want 12", got)
	}
	if got := ids(Since(hs, t0.Add(time.Second))); got != "123" {
		t.Errorf("Since 1s = %q, want 123", got)
	}
}
