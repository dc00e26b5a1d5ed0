package budget

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/problem"
)

// TestInboundShedsWhileShortOfCPU holds the shedding rule with the lag
// given: a request is refused at once, 503 overloaded and not processed,
// only while the lag is over ShedLag and more than the floor are in
// flight; a negative ShedLag sheds nothing.
func TestInboundShedsWhileShortOfCPU(t *testing.T) {
	floor := runtime.GOMAXPROCS(0)
	tests := []struct {
		name     string
		shedLag  time.Duration
		lag      time.Duration
		inFlight int
		shed     bool
	}{
		{"lagging, more than the floor in flight", 0, DefaultShedLag + ms, floor, true},
		{"lagging, the floor in flight with this one", 0, DefaultShedLag + ms, floor - 1, false},
		{"lag at the bound", 0, DefaultShedLag, floor, false},
		{"a ShedLag of its own", 50 * ms, 40 * ms, floor, false},
		{"over a ShedLag of its own", 50 * ms, 60 * ms, floor, true},
		{"shedding off", -1, time.Hour, floor, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			var started, held sync.WaitGroup
			h := Inbound(ServerPolicy{ShedLag: tt.shedLag, Lag: func() time.Duration { return tt.lag }})(
				http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path == "/hold" {
						started.Done()
						<-release
					}
				}))
			for range tt.inFlight {
				started.Add(1)
				held.Go(func() { h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/hold", nil)) })
			}
			started.Wait()
			defer held.Wait()
			defer close(release)
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", nil))
			if !tt.shed {
				if w.Code != http.StatusOK {
					t.Fatalf("status %d, want the handler's 200", w.Code)
				}
				return
			}
			if w.Code != http.StatusServiceUnavailable || w.Header().Get("Sluice-Retry") != "not-processed" ||
				w.Header().Get("Retry-After") != "1" || !strings.Contains(w.Body.String(), problem.TypeOverloaded) {
				t.Fatalf("status %d, fields %v, body %s; want 503 overloaded, not processed, Retry-After 1",
					w.Code, w.Header(), w.Body)
			}
		})
	}
}
