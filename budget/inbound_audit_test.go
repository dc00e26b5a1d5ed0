package budget

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestAuditInboundHostileFields holds what a backend makes of hostile
// Sluice-Budget fields, as a caller that reaches it directly may send them:
// a malformed one never refuses the request nor grants more than the
// policy's default (or Max), one over Max is clamped, one below Min is
// refused before the handler, and grpc-timeout is not read at all.
func TestAuditInboundHostileFields(t *testing.T) {
	const def = 3 * time.Second
	policy := ServerPolicy{Default: def, Max: 5 * time.Second, Min: 2 * ms}
	tests := []struct {
		name    string
		header  http.Header
		want    time.Duration // 0: refused
		hop     int
		wantBad error
	}{
		{"largest ms, clamped to Max", http.Header{HeaderName: {"ms=999999999"}}, 5 * time.Second, 0, nil},
		{"ms one over its bound", http.Header{HeaderName: {"ms=1000000000"}}, def, 0, ErrOutOfRange},
		{"ms of 16 digits", http.Header{HeaderName: {"ms=9999999999999999"}}, def, 0, ErrSyntax},
		{"negative ms", http.Header{HeaderName: {"ms=-1"}}, def, 0, ErrNotInteger},
		{"negative zero", http.Header{HeaderName: {"ms=-0"}}, 0, 0, nil},
		{"decimal ms", http.Header{HeaderName: {"ms=1.5"}}, def, 0, ErrNotInteger},
		{"hop below MaxChain", http.Header{HeaderName: {"ms=100, hop=31"}}, 100 * ms, MaxChain - 1, nil},
		{"hop over its bound", http.Header{HeaderName: {"ms=100, hop=256"}}, def, 0, ErrOutOfRange},
		{"a later zero wins", http.Header{HeaderName: {"ms=100", "ms=0"}}, 0, 0, nil},
		{"a later malformed member wins", http.Header{HeaderName: {"ms=100, ms=x"}}, def, 0, ErrNotInteger},
		{"many lines", http.Header{HeaderName: strings.Split(strings.Repeat("ms=1,", 100), ",")}, def, 0, ErrTooLong},
		{"one long line", http.Header{HeaderName: {"ms=100, x=\"" + strings.Repeat("a", 300) + "\""}}, def, 0, ErrTooLong},
		{"parameters carry nothing", http.Header{HeaderName: {"ms=100;hop=9"}}, 100 * ms, 0, nil},
		{"NUL byte", http.Header{HeaderName: {"ms=1\x00"}}, def, 0, ErrSyntax},
		{"grpc-timeout alone is not read", http.Header{GRPCHeaderName: {"1n"}}, def, 0, nil},
		{"grpc-timeout does not lower a budget", http.Header{HeaderName: {"ms=100"}, GRPCHeaderName: {"1n"}}, 100 * ms, 0, nil},
	}
	t0 := time.Now()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := policy
			p.Now = fixedClock(t0)
			var bad error
			p.OnBadHeader = func(_ *http.Request, err error) { bad = err }
			var s served
			r := httptest.NewRequest(http.MethodPost, "/rpc/A.B", nil)
			r.Header = tt.header
			w := httptest.NewRecorder()
			Inbound(p)(record(&s)).ServeHTTP(w, r)
			if !errors.Is(bad, tt.wantBad) || (tt.wantBad == nil && bad != nil) {
				t.Fatalf("OnBadHeader told %v, want %v", bad, tt.wantBad)
			}
			if tt.want == 0 {
				if s.called || w.Code != http.StatusGatewayTimeout {
					t.Fatalf("status %d, handler called %v; want a 504 before the handler", w.Code, s.called)
				}
				return
			}
			if !s.called || s.info.Received != tt.want || s.info.Hop != tt.hop || !s.deadline.Equal(t0.Add(tt.want)) {
				t.Fatalf("handler saw %+v (deadline %v), want %v at hop %d", s.info, s.deadline, tt.want, tt.hop)
			}
		})
	}
}
