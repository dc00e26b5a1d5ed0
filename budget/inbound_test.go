package budget

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/problem"
	"github.com/sluicehq/sluice/requestid"
)

// fixedClock returns a ServerPolicy.Now that always answers t.
func fixedClock(t time.Time) func() time.Time { return func() time.Time { return t } }

// served is what a handler behind Inbound saw.
type served struct {
	called      bool
	info        Info
	ok          bool
	deadline    time.Time
	hasDeadline bool
}

// record returns a handler that stores what it sees in s.
func record(s *served) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.called = true
		s.info, s.ok = FromContext(r.Context())
		s.deadline, s.hasDeadline = r.Context().Deadline()
		w.WriteHeader(http.StatusNoContent)
	})
}

func TestInbound(t *testing.T) {
	t0 := time.Now()
	tests := []struct {
		name     string
		policy   ServerPolicy
		values   []string // Sluice-Budget field lines
		want     Info     // Deadline is filled in as t0 + Received
		wantBad  error    // what OnBadHeader is told, if anything
		wantCode int
	}{
		{"header present", ServerPolicy{}, []string{"ms=1473, hop=2, retry=1"},
			Info{Received: 1473 * ms, Hop: 2, Retries: 1}, nil, http.StatusNoContent},
		{"header on two lines", ServerPolicy{}, []string{"hop=3", "ms=20"},
			Info{Received: 20 * ms, Hop: 3}, nil, http.StatusNoContent},
		{"caller named", ServerPolicy{}, []string{`ms=20, hop=1, caller="2001:db8::"`},
			Info{Received: 20 * ms, Hop: 1, Caller: netip.MustParseAddr("2001:db8::")}, nil, http.StatusNoContent},
		{"caller not an address gets the default", ServerPolicy{Default: 3 * time.Second}, []string{`ms=20, hop=1, caller="x"`},
			Info{Received: 3 * time.Second}, ErrNotAddress, http.StatusNoContent},
		{"absent gets the default", ServerPolicy{}, nil,
			Info{Received: DefaultServerTimeout}, nil, http.StatusNoContent},
		{"absent gets the policy default", ServerPolicy{Default: 3 * time.Second}, nil,
			Info{Received: 3 * time.Second}, nil, http.StatusNoContent},
		{"malformed gets the default", ServerPolicy{Default: 3 * time.Second}, []string{"ms=1.5, hop=4"},
			Info{Received: 3 * time.Second}, ErrNotInteger, http.StatusNoContent},
		{"garbage gets the default", ServerPolicy{}, []string{"\x00"},
			Info{Received: DefaultServerTimeout}, ErrSyntax, http.StatusNoContent},
		{"missing ms gets the default", ServerPolicy{}, []string{"hop=1"},
			Info{Received: DefaultServerTimeout}, ErrMissingMs, http.StatusNoContent},
		{"clamped to max", ServerPolicy{Max: 2 * time.Second}, []string{"ms=60000, hop=1"},
			Info{Received: 2 * time.Second, Hop: 1}, nil, http.StatusNoContent},
		{"default clamped to max", ServerPolicy{Max: 2 * time.Second}, nil,
			Info{Received: 2 * time.Second}, nil, http.StatusNoContent},
		{"at min", ServerPolicy{Min: 5 * ms}, []string{"ms=5, hop=1"},
			Info{Received: 5 * ms, Hop: 1}, nil, http.StatusNoContent},
		{"below min", ServerPolicy{Min: 5 * ms}, []string{"ms=4, hop=1"},
			Info{}, nil, http.StatusGatewayTimeout},
		{"zero below the default min", ServerPolicy{}, []string{"ms=0, hop=1"},
			Info{}, nil, http.StatusGatewayTimeout},
		{"max below min", ServerPolicy{Max: ms, Min: 2 * ms}, []string{"ms=100"},
			Info{}, nil, http.StatusGatewayTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gotBad error
			p := tt.policy
			p.Now = fixedClock(t0)
			p.OnBadHeader = func(_ *http.Request, err error) { gotBad = err }
			var s served
			h := Inbound(p)(record(&s))

			r := httptest.NewRequest(http.MethodGet, "/", nil)
			for _, v := range tt.values {
				r.Header.Add(HeaderName, v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)

			if w.Code != tt.wantCode {
				t.Fatalf("status = %d; want %d", w.Code, tt.wantCode)
			}
			if !errors.Is(gotBad, tt.wantBad) {
				t.Errorf("OnBadHeader told %v; want %v", gotBad, tt.wantBad)
			}
			if tt.wantCode != http.StatusNoContent {
				if s.called {
					t.Fatal("handler called for a budget below the minimum")
				}
				checkProblem(t, w.Result(), http.StatusGatewayTimeout, problem.TypeBudgetTooLow)
				return
			}
			want := tt.want
			want.Deadline = t0.Add(want.Received)
			if !s.ok || s.info != want {
				t.Errorf("FromContext = %+v, %v; want %+v, true", s.info, s.ok, want)
			}
			if !s.hasDeadline || !s.deadline.Equal(want.Deadline) {
				t.Errorf("ctx deadline = %v, %v; want %v (Now + budget)", s.deadline, s.hasDeadline, want.Deadline)
			}
		})
	}
}

// checkProblem checks that resp is an RFC 9457 problem of status and typ.
func checkProblem(t *testing.T, resp *http.Response, status int, typ string) {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); !problem.IsProblem(ct) {
		t.Errorf("Content-Type = %q; want %s", ct, problem.ContentType)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var p struct {
		Type   string `json:"type"`
		Title  string `json:"title"`
		Status int    `json:"status"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		t.Fatalf("body %q: %v", body, err)
	}
	if p.Type != typ || p.Status != status || p.Title == "" {
		t.Errorf("problem = %+v; want type %s, status %d and a title", p, typ, status)
	}
}

// TestInboundServer runs Inbound in a real server, with the field sent on two
// lines by a real client.
func TestInboundServer(t *testing.T) {
	t0 := time.Now()
	var s served
	srv := httptest.NewServer(Inbound(ServerPolicy{Now: fixedClock(t0)})(record(&s)))
	defer srv.Close()

	req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Add(HeaderName, "ms=60000")
	req.Header.Add(HeaderName, "hop=1, retry=2")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Fatalf("status = %d", resp.StatusCode)
	}
	want := Info{Deadline: t0.Add(time.Minute), Received: time.Minute, Hop: 1, Retries: 2}
	if s.info != want || !s.deadline.Equal(want.Deadline) {
		t.Errorf("handler saw %+v, deadline %v; want %+v", s.info, s.deadline, want)
	}
}

// TestInboundRequestCancel checks that the handler's context is a child of the
// request's: a caller that goes away cancels the work.
func TestInboundRequestCancel(t *testing.T) {
	reqCtx, cancelReq := context.WithCancel(context.Background())
	defer cancelReq()
	var errBefore, errAfter error
	h := Inbound(ServerPolicy{})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		errBefore = r.Context().Err()
		cancelReq()
		<-r.Context().Done() // cancellation propagates to children
		errAfter = r.Context().Err()
	}))
	r := httptest.NewRequest(http.MethodGet, "/", nil).WithContext(reqCtx)
	r.Header.Set(HeaderName, "ms=600000")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if errBefore != nil {
		t.Errorf("ctx.Err() before cancel = %v; want nil", errBefore)
	}
	if !errors.Is(errAfter, context.Canceled) {
		t.Errorf("ctx.Err() after the request's cancel = %v; want context.Canceled", errAfter)
	}
}

func TestNewContext(t *testing.T) {
	t0 := time.Now()
	info := Info{Deadline: t0.Add(time.Hour), Received: time.Hour, Hop: 1, Retries: 2}

	ctx, cancel := NewContext(context.Background(), info)
	defer cancel()
	if got, ok := FromContext(ctx); !ok || got != info {
		t.Errorf("FromContext = %+v, %v; want %+v, true", got, ok, info)
	}
	if d, ok := ctx.Deadline(); !ok || !d.Equal(info.Deadline) {
		t.Errorf("Deadline() = %v, %v; want %v", d, ok, info.Deadline)
	}
	if got := info.Remaining(t0.Add(time.Minute)); got != 59*time.Minute {
		t.Errorf("Remaining = %v; want 59m", got)
	}

	// A parent with an earlier deadline keeps it.
	parent, cancelParent := context.WithDeadline(context.Background(), t0.Add(time.Minute))
	defer cancelParent()
	ctx, cancel = NewContext(parent, info)
	defer cancel()
	if d, _ := ctx.Deadline(); !d.Equal(t0.Add(time.Minute)) {
		t.Errorf("Deadline() = %v; want the parent's %v", d, t0.Add(time.Minute))
	}

	if _, ok := FromContext(context.Background()); ok {
		t.Error("FromContext(Background) ok = true")
	}
}

func TestOutgoing(t *testing.T) {
	t0 := time.Now()
	withInfo := func(info Info) context.Context {
		ctx, cancel := NewContext(context.Background(), info)
		t.Cleanup(cancel)
		return ctx
	}
	plain := func(d time.Duration) context.Context {
		ctx, cancel := context.WithDeadline(context.Background(), t0.Add(d))
		t.Cleanup(cancel)
		return ctx
	}
	tests := []struct {
		name     string
		ctx      context.Context
		now      time.Time
		margin   time.Duration
		fallback time.Duration
		retries  int
		want     Header
		wantErr  error
	}{
		{"gateway to first backend", withInfo(Info{Deadline: t0.Add(2 * time.Second)}), t0, ms, 10 * time.Second, 0,
			Header{Remaining: 2*time.Second - ms, Hop: 1}, nil},
		{"time has passed", withInfo(Info{Deadline: t0.Add(2 * time.Second)}), t0.Add(500 * ms), ms, 0, 0,
			Header{Remaining: 1500*ms - ms, Hop: 1}, nil},
		{"hop plus one", withInfo(Info{Deadline: t0.Add(time.Second), Hop: 2}), t0, 0, 0, 0,
			Header{Remaining: time.Second, Hop: 3}, nil},
		{"retries added", withInfo(Info{Deadline: t0.Add(time.Second), Hop: 1, Retries: 2}), t0, 0, 0, 3,
			Header{Remaining: time.Second, Hop: 2, Retries: 5}, nil},
		{"caller sent on", withInfo(Info{Deadline: t0.Add(time.Second), Hop: 1, Caller: netip.MustParseAddr("192.0.2.1")}), t0, 0, 0, 0,
			Header{Remaining: time.Second, Hop: 2, Caller: netip.MustParseAddr("192.0.2.1")}, nil},
		{"margin subtracted", withInfo(Info{Deadline: t0.Add(time.Second)}), t0, 50 * ms, 0, 0,
			Header{Remaining: 950 * ms, Hop: 1}, nil},
		{"deadline without info", plain(time.Second), t0, ms, 0, 0,
			Header{Remaining: 999 * ms, Hop: 1}, nil},
		{"fallback when no deadline", context.Background(), t0, ms, 5 * time.Second, 1,
			Header{Remaining: 5*time.Second - ms, Hop: 1, Retries: 1}, nil},
		{"exactly 1ms left", plain(2 * ms), t0, ms, 0, 0,
			Header{Remaining: ms, Hop: 1}, nil},
		{"spent: under 1ms after margin", plain(2*ms - 1), t0, ms, 0, 0, Header{}, ErrSpent},
		{"spent: deadline passed", plain(time.Second), t0.Add(2 * time.Second), 0, 0, 0, Header{}, ErrSpent},
		{"spent: margin eats it", plain(10 * ms), t0, 10 * ms, 0, 0, Header{}, ErrSpent},
		{"spent: fallback too small", context.Background(), t0, ms, ms, 0, Header{}, ErrSpent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Outgoing(tt.ctx, tt.now, tt.margin, tt.fallback, tt.retries)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("Outgoing = %+v, %v; want %+v, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestOutgoingWithin checks that an attempt's own deadline gives the
// budget that Outgoing gives for a context derived with that deadline,
// whichever of the two deadlines is earlier, with or without a budget.
func TestOutgoingWithin(t *testing.T) {
	t0 := time.Now()
	info := Info{Deadline: t0.Add(2 * time.Second), Hop: 1, Retries: 1}
	for _, tc := range []struct {
		name   string
		parent func() (context.Context, context.CancelFunc)
		try    time.Duration
	}{
		{"attempt's deadline earlier", func() (context.Context, context.CancelFunc) {
			return NewContext(context.Background(), info)
		}, 300 * ms},
		{"budget's deadline earlier", func() (context.Context, context.CancelFunc) {
			return NewContext(context.Background(), info)
		}, 5 * time.Second},
		{"no deadline but the attempt's", func() (context.Context, context.CancelFunc) {
			return context.WithCancel(context.Background())
		}, 300 * ms},
		{"attempt's deadline spent", func() (context.Context, context.CancelFunc) {
			return NewContext(context.Background(), info)
		}, ms / 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent, cancel := tc.parent()
			defer cancel()
			derived, dcancel := context.WithDeadline(parent, t0.Add(tc.try))
			defer dcancel()
			want, wantErr := Outgoing(derived, t0, ms, 10*time.Second, 1)
			got, err := OutgoingWithin(parent, t0.Add(tc.try), t0, ms, 10*time.Second, 1)
			if got != want || err != wantErr {
				t.Errorf("OutgoingWithin = %+v, %v; Outgoing with a derived context = %+v, %v", got, err, want, wantErr)
			}
		})
	}
}

// TestInboundCarriesTheRequestID: a valid X-Request-Id reaches the
// handler's context and the answer, and a refusal's problem body names it;
// an invalid one goes nowhere.
func TestInboundCarriesTheRequestID(t *testing.T) {
	for _, tc := range []struct{ id, want string }{{"abc-1", "abc-1"}, {"bad id", ""}} {
		var inCtx string
		h := Inbound(ServerPolicy{Min: 10 * time.Millisecond})(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inCtx = requestid.FromContext(r.Context())
		}))
		for _, field := range []string{"ms=1000", "ms=1"} { // served, then refused below Min
			req := httptest.NewRequest("GET", "/", nil)
			req.Header.Set(HeaderName, field)
			req.Header.Set(requestid.HeaderName, tc.id)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if got := rec.Header().Get(requestid.HeaderName); got != tc.want {
				t.Errorf("id %q, %s: answer's id %q, want %q", tc.id, field, got, tc.want)
			}
			if field == "ms=1" && rec.Code == http.StatusGatewayTimeout {
				if has := strings.Contains(rec.Body.String(), `"request_id":"`+tc.want+`"`); has != (tc.want != "") {
					t.Errorf("id %q: refusal body %s", tc.id, rec.Body)
				}
			}
		}
		if inCtx != tc.want {
			t.Errorf("id %q: the handler's context has %q, want %q", tc.id, inCtx, tc.want)
		}
	}
}

// TestInboundObserve: Observe hears every request's budget after the
// default and the clamp, and whether it was refused.
func TestInboundObserve(t *testing.T) {
	type seen struct {
		h       Header
		refused bool
	}
	var got []seen
	h := Inbound(ServerPolicy{Min: 10 * time.Millisecond, Max: time.Second, Default: 500 * time.Millisecond,
		Observe: func(_ *http.Request, h Header, refused bool) { got = append(got, seen{h, refused}) }})(http.NotFoundHandler())
	for _, field := range []string{"ms=5000, hop=2", "ms=1, hop=3", ""} {
		req := httptest.NewRequest("GET", "/", nil)
		if field != "" {
			req.Header.Set(HeaderName, field)
		}
		h.ServeHTTP(httptest.NewRecorder(), req)
	}
	want := []seen{{Header{Remaining: time.Second, Hop: 2}, false}, {Header{Remaining: time.Millisecond, Hop: 3}, true},
		{Header{Remaining: 500 * time.Millisecond}, false}}
	if len(got) != len(want) {
		t.Fatalf("observed %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("request %d: observed %+v, want %+v", i, got[i], want[i])
		}
	}
}
