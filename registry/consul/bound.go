package consul

import (
	"fmt"
	"io"
	"net/http"

	"github.com/hashicorp/consul/api"
)

// DefaultMaxAnswerBytes bounds how much of one Consul answer a client made
// by NewClient reads: far more than any service's health entries (10,000
// instances with their checks come to a few MiB), far less than a broken or
// hostile agent could send.
const DefaultMaxAnswerBytes = 64 << 20

// NewClient returns a Consul client for cfg, as api.NewClient does, that
// reads at most DefaultMaxAnswerBytes of any answer: past it, the read
// fails and so does the call (a Lookup or Watch keeps nothing of it).
// Without an HTTP client or transport in cfg, it opens at most MaxConns
// connections to the agent.
//
// consul/api decodes an answer's body as it comes, without a bound: an
// agent that answers without end (a broken proxy in front of it, a hostile
// one) would have the gateway hold all it sends.
func NewClient(cfg *api.Config) (*api.Client, error) {
	return newClient(cfg, DefaultMaxAnswerBytes)
}

// MaxConns caps the connections that a client made by NewClient, with
// neither an HTTP client nor a transport of its own, opens to its agent, and
// how many of them it keeps idle. It is above the requests a Registry has in
// flight at most (see MaxBlockingQueries), since one may start before the
// connection of the one that just ended is back in the pool, and Register
// and Heartbeat calls go through it too; it is well under Consul's
// limits.http_max_conns_per_client (200 by default), which the other
// clients on the gateway's address share (backends registering through the
// same agent). consul/api's own transport keeps GOMAXPROCS+1 idle, and would
// close and redial the rest at every round of the shared watch.
const MaxConns = 32

func newClient(cfg *api.Config, max int64) (*api.Client, error) {
	if cfg.HttpClient == nil && cfg.Transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxConnsPerHost, t.MaxIdleConnsPerHost = MaxConns, MaxConns
		cfg.Transport = t
	}
	c, err := api.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	// api.NewClient sets cfg.HttpClient to the client it uses (its own when
	// cfg had none), and the client keeps that pointer: its transport is
	// wrapped before the first call.
	cfg.HttpClient.Transport = &boundAnswers{next: transportOf(cfg.HttpClient), max: max}
	return c, nil
}

func transportOf(c *http.Client) http.RoundTripper {
	if c.Transport == nil {
		return http.DefaultTransport
	}
	return c.Transport
}

// boundAnswers is a RoundTripper whose answers' bodies fail past max bytes.
type boundAnswers struct {
	next http.RoundTripper
	max  int64
}

func (b *boundAnswers) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := b.next.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	resp.Body = &boundBody{ReadCloser: resp.Body, left: b.max, max: b.max}
	return resp, nil
}

// boundBody reads at most max bytes of its body, then fails.
type boundBody struct {
	io.ReadCloser
	left, max int64
}

func (b *boundBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// Is there more? A body of exactly max bytes is whole.
		var one [1]byte
		if n, err := b.ReadCloser.Read(one[:]); n == 0 {
			return 0, err
		}
		return 0, fmt.Errorf("consul: an answer over %d bytes", b.max)
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}
