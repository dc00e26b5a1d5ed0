package budget

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/problem"
)

func TestPolicyValidate(t *testing.T) {
	tests := []struct {
		name string
		p    Policy
		ok   bool
	}{
		{"timeout only", Policy{Timeout: time.Second}, true},
		{"all set", Policy{Timeout: time.Second, Max: 5 * time.Second, Min: 10 * ms, AllowRaise: true}, true},
		{"min equals timeout", Policy{Timeout: time.Second, Min: time.Second}, true},
		{"max equals timeout", Policy{Timeout: time.Second, Max: time.Second}, true},
		{"zero value", Policy{}, false},
		{"negative timeout", Policy{Timeout: -time.Second}, false},
		{"negative min", Policy{Timeout: time.Second, Min: -1}, false},
		{"max below timeout", Policy{Timeout: time.Second, Max: 500 * ms}, false},
		{"negative max", Policy{Timeout: time.Second, Max: -1}, false},
		{"min above timeout", Policy{Timeout: time.Second, Min: 2 * time.Second}, false},
		{"timeout below the default min", Policy{Timeout: 500 * time.Microsecond}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.p.Validate(); (err == nil) != tt.ok {
				t.Fatalf("Validate() = %v; want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestPolicyMinOrDefault(t *testing.T) {
	if got := (Policy{Timeout: time.Second}).MinOrDefault(); got != time.Millisecond {
		t.Errorf("default Min = %v; want 1ms", got)
	}
	if got := (Policy{Timeout: time.Second, Min: 50 * ms}).MinOrDefault(); got != 50*ms {
		t.Errorf("Min = %v; want 50ms", got)
	}
}

func TestPolicyGrant(t *testing.T) {
	base := Policy{Timeout: time.Second, Max: 5 * time.Second, Min: 10 * ms}
	raise := base
	raise.AllowRaise = true
	tests := []struct {
		name    string
		p       Policy
		asked   time.Duration
		trusted bool
		want    time.Duration
		wantErr error
	}{
		{"within timeout", base, 300 * ms, false, 300 * ms, nil},
		{"at timeout", base, time.Second, false, time.Second, nil},
		{"untrusted clamped to timeout", base, 3 * time.Second, false, time.Second, nil},
		{"trusted may raise", base, 3 * time.Second, true, 3 * time.Second, nil},
		{"trusted clamped to max", base, time.Hour, true, 5 * time.Second, nil},
		{"allow raise", raise, 3 * time.Second, false, 3 * time.Second, nil},
		{"allow raise clamped to max", raise, time.Hour, false, 5 * time.Second, nil},
		{"max defaults to timeout", Policy{Timeout: time.Second}, time.Hour, true, time.Second, nil},
		{"at min", base, 10 * ms, false, 10 * ms, nil},
		{"below min", base, 9 * ms, false, 0, ErrBelowMinimum},
		{"below min, trusted", base, 9 * ms, true, 0, ErrBelowMinimum},
		{"zero ask", base, 0, false, 0, ErrBelowMinimum},
		{"zero ask, default min", Policy{Timeout: time.Second}, 0, false, 0, ErrBelowMinimum},
		{"sub-ms ask, default min", Policy{Timeout: time.Second}, 999 * time.Microsecond, false, 0, ErrBelowMinimum},
		{"1ms ask, default min", Policy{Timeout: time.Second}, ms, false, ms, nil},
		{"negative ask", base, -time.Second, false, 0, ErrBelowMinimum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.p.Grant(tt.asked, tt.trusted)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("Grant(%v, %v) = %v, %v; want %v, %v", tt.asked, tt.trusted, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// headers builds an http.Header from name, value pairs, canonicalising names
// as a server does.
func headers(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

func TestRequested(t *testing.T) {
	tests := []struct {
		name    string
		h       http.Header
		want    time.Duration
		wantOK  bool
		wantErr error
	}{
		{"nothing", headers(), 0, false, nil},
		{"other headers", headers("Timeout", "5"), 0, false, nil},
		{"sluice budget", headers("Sluice-Budget", "ms=1500"), 1500 * ms, true, nil},
		{"lower-case names", headers("sluice-budget", "ms=1500"), 1500 * ms, true, nil},
		{"hop and retry ignored", headers("Sluice-Budget", "ms=1500, hop=9, retry=3"), 1500 * ms, true, nil},
		{"sluice budget on two lines", headers("Sluice-Budget", "hop=1", "Sluice-Budget", "ms=20"), 20 * ms, true, nil},
		{"grpc-timeout", headers("grpc-timeout", "2S"), 2 * time.Second, true, nil},
		{"both, sluice smaller", headers("Sluice-Budget", "ms=100", "Grpc-Timeout", "2S"), 100 * ms, true, nil},
		{"both, grpc smaller", headers("Sluice-Budget", "ms=3000", "Grpc-Timeout", "2S"), 2 * time.Second, true, nil},
		{"zero ask is an ask", headers("Sluice-Budget", "ms=0"), 0, true, nil},
		{"malformed sluice budget", headers("Sluice-Budget", "ms=1.5"), 0, false, ErrNotInteger},
		{"sluice budget without ms", headers("Sluice-Budget", "hop=1"), 0, false, ErrMissingMs},
		{"malformed grpc-timeout", headers("Grpc-Timeout", "2s"), 0, false, ErrGRPCSyntax},
		{"two grpc-timeouts", headers("Grpc-Timeout", "2S", "Grpc-Timeout", "1S"), 0, false, ErrGRPCSyntax},
		{"good sluice, bad grpc", headers("Sluice-Budget", "ms=5", "Grpc-Timeout", "x"), 0, false, ErrGRPCSyntax},
		{"bad sluice, good grpc", headers("Sluice-Budget", "ms=x", "Grpc-Timeout", "1S"), 0, false, ErrNotInteger},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, err := Requested(tt.h)
			if !errors.Is(err, tt.wantErr) || ok != tt.wantOK || got != tt.want {
				t.Fatalf("Requested(%v) = %v, %v, %v; want %v, %v, %v", tt.h, got, ok, err, tt.want, tt.wantOK, tt.wantErr)
			}
		})
	}
}

func TestPolicyOriginate(t *testing.T) {
	p := Policy{Timeout: 2 * time.Second, Max: 10 * time.Second, Min: 50 * ms}
	tests := []struct {
		name    string
		h       http.Header
		trusted bool
		want    time.Duration
		wantErr error
	}{
		{"no header gets timeout", headers(), false, 2 * time.Second, nil},
		{"sluice budget ms", headers("Sluice-Budget", "ms=700"), false, 700 * ms, nil},
		{"grpc-timeout", headers("Grpc-Timeout", "900m"), false, 900 * ms, nil},
		{"both, smaller wins", headers("Sluice-Budget", "ms=700", "Grpc-Timeout", "600m"), false, 600 * ms, nil},
		{"untrusted ask clamped to timeout", headers("Sluice-Budget", "ms=60000"), false, 2 * time.Second, nil},
		{"trusted ask clamped to max", headers("Sluice-Budget", "ms=60000"), true, 10 * time.Second, nil},
		{"ask below min", headers("Grpc-Timeout", "10m"), false, 0, ErrBelowMinimum},
		{"zero ask", headers("Sluice-Budget", "ms=0"), false, 0, ErrBelowMinimum},
		{"malformed is a parse error", headers("Sluice-Budget", "ms=0,"), false, 0, ErrSyntax},
		{"out of range is a parse error", headers("Sluice-Budget", "ms=1, hop=256"), false, 0, ErrOutOfRange},
		{"malformed grpc-timeout", headers("Grpc-Timeout", "0"), false, 0, ErrGRPCSyntax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := p.Originate(tt.h, tt.trusted)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("Originate(%v, %v) = %v, %v; want %v, %v", tt.h, tt.trusted, got, err, tt.want, tt.wantErr)
			}
		})
	}
}

// TestOriginateHop: the edge continues the hop a request names, and
// refuses one at MaxChain or beyond (ErrLoop): a request that came back
// to it; the budget is originated as by Originate.
func TestOriginateHop(t *testing.T) {
	p := Policy{Timeout: 2 * time.Second}
	for _, tc := range []struct {
		field string
		grant time.Duration
		hop   int
		err   error
	}{
		{"", 2 * time.Second, 0, nil},
		{"ms=500", 500 * time.Millisecond, 0, nil},
		{"ms=500, hop=3", 500 * time.Millisecond, 3, nil},
		{"ms=5000, hop=31, retry=2", 2 * time.Second, 31, nil},
		{"ms=500, hop=32", 0, 32, ErrLoop},
		{"ms=0, hop=200", 0, 200, ErrLoop},
		{"ms=500, hop=256", 0, 0, ErrOutOfRange},
	} {
		h := http.Header{}
		if tc.field != "" {
			h.Set(HeaderName, tc.field)
		}
		grant, hop, err := p.OriginateHop(h, false)
		if grant != tc.grant || hop != tc.hop || !errors.Is(err, tc.err) {
			t.Errorf("%q: %v, hop %d, %v; want %v, hop %d, %v", tc.field, grant, hop, err, tc.grant, tc.hop, tc.err)
		}
		if g, err2 := p.Originate(h, false); g != grant || err2 != err {
			t.Errorf("%q: Originate %v, %v; OriginateHop %v, %v", tc.field, g, err2, grant, err)
		}
	}
}

// TestInboundRefusesALoop: a backend refuses a request at MaxChain hops,
// 508 loop-detected, without calling its handler; one hop fewer is served.
func TestInboundRefusesALoop(t *testing.T) {
	for _, tc := range []struct {
		hop    int
		called bool
		code   int
	}{{MaxChain - 1, true, http.StatusNoContent}, {MaxChain, false, http.StatusLoopDetected}, {255, false, http.StatusLoopDetected}} {
		var s served
		r := httptest.NewRequest(http.MethodPost, "/rpc/A.B", nil)
		r.Header.Set(HeaderName, fmt.Sprintf("ms=100, hop=%d", tc.hop))
		w := httptest.NewRecorder()
		Inbound(ServerPolicy{})(record(&s)).ServeHTTP(w, r)
		if s.called != tc.called || w.Code != tc.code {
			t.Errorf("hop %d: %d, handler called %v; want %d, %v", tc.hop, w.Code, s.called, tc.code, tc.called)
		}
		if !tc.called && !strings.Contains(w.Body.String(), problem.TypeLoop) {
			t.Errorf("hop %d: %s, want a loop-detected problem", tc.hop, w.Body)
		}
	}
}
