package chaos

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	eload "github.com/sluicehq/sluice/e2e/internal/load"
)

// hit is one request of a load and what came back (e2e/internal/load,
// shared with the e2e suite).
type hit = eload.Hit

// startLoad starts rate requests a second, made by next, against base until
// limit passes or the load is stopped; workers bounds the requests in
// flight. Arrivals are a Poisson process: loads started side by side do not
// lock into step, as independent clients would not. The test's cleanup
// stops it.
func startLoad(t *testing.T, base string, rate, workers int, limit time.Duration, next func(i int) eload.Request) *eload.Load {
	t.Helper()
	return eload.Start(t, base, eload.Config{Rate: rate, Workers: workers, Limit: limit, Poisson: true,
		Timeout: 30 * time.Second, Next: next, Decode: decodeNode})
}

// decodeNode reads a chaosnode's answer, or the gateway's problem: every
// answer is JSON, a success naming the node and the retries it was told of.
func decodeNode(h *hit, b []byte) error {
	var body struct {
		Node    string `json:"node"`
		Retries int    `json:"retries"`
		Type    string `json:"type"`
	}
	err := json.Unmarshal(b, &body)
	if err != nil {
		err = fmt.Errorf("status %d, body %q: %w", h.Status, b, err)
	}
	h.Type = body.Type
	if h.Status == http.StatusOK {
		h.Node, h.Retries = body.Node, body.Retries
	}
	return err
}

// getsAndPosts alternates GET /work/gN and POST /write/pN, ids unique in the
// load.
func getsAndPosts(header http.Header) func(i int) eload.Request {
	return func(i int) eload.Request {
		if i%2 == 0 {
			id := "g" + strconv.Itoa(i)
			return eload.Request{Method: http.MethodGet, Path: "/work/" + id, ID: id, Header: header}
		}
		id := "p" + strconv.Itoa(i)
		return eload.Request{Method: http.MethodPost, Path: "/write/" + id, ID: id, Header: header}
	}
}

// gets sends GET prefix+gN.
func gets(prefix string, header http.Header) func(i int) eload.Request {
	return func(i int) eload.Request {
		id := "g" + strconv.Itoa(i)
		return eload.Request{Method: http.MethodGet, Path: prefix + id, ID: id, Header: header}
	}
}

// budgetHeader asks the gateway for a budget of d.
func budgetHeader(d time.Duration) http.Header {
	return http.Header{"Sluice-Budget": {"ms=" + strconv.FormatInt(d.Milliseconds(), 10)}}
}

// workers sizes a load's pool: enough for rate requests a second that each
// take up to perRequest.
func workers(rate int, perRequest time.Duration) int {
	return max(8, int(float64(rate)*perRequest.Seconds()*1.5)+1)
}
