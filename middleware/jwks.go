package middleware

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of JWKSSettings' zero fields, and the bound on a JWK Set's size.
const (
	// DefaultJWKSRefreshInterval is how old a key set may grow before a
	// request starts a refresh.
	DefaultJWKSRefreshInterval = 5 * time.Minute
	// DefaultJWKSMinRefreshInterval is the least time between two fetches
	// of the same JWKS, whatever asks for them: an unknown kid, a stale
	// set, a failed fetch.
	DefaultJWKSMinRefreshInterval = 30 * time.Second
	// DefaultJWKSTimeout bounds one fetch, connection to last byte.
	DefaultJWKSTimeout = 5 * time.Second
	// MaxJWKSBytes bounds a JWK Set document; a larger one is refused.
	MaxJWKSBytes = 1 << 20
	// MaxJWKSKeys bounds the keys a JWK Set may hold; a set with more is
	// refused. A token without a kid is tried against every key of its
	// algorithm, so a set of thousands (a megabyte holds some 6,000 EC
	// keys) would make each made-up kid-less token cost a CPU-second. The
	// major issuers publish fewer than ten.
	MaxJWKSKeys = 64
	// maxJWKSHeaderBytes bounds the response's header: net/http's default
	// (10 MiB) would let the server make each fetch hold ten times
	// MaxJWKSBytes. A JWKS answer's header is a few hundred bytes.
	maxJWKSHeaderBytes = 64 << 10
)

// Results of a JWKS fetch, as given to the observer (JWKS.Observe): the
// values of the result label of sluice_jwks_refresh_total.
const (
	JWKSLoaded    = "loaded"    // a new key set replaced the one held (or was the first)
	JWKSUnchanged = "unchanged" // the same document again
	JWKSFailed    = "failed"    // no answer, a timeout, a status other than 200
	JWKSRefused   = "refused"   // an answer that is no usable JWK Set: malformed, too large, no key to keep
)

// ErrKeysUnavailable is the error of a verification that found no key set
// at all: the JWKS has never been fetched and could not be now.
var ErrKeysUnavailable = errors.New("the JWKS has not been loaded")

// JWKSSettings configure a JWKS.
type JWKSSettings struct {
	// URL of the JWK Set: https, or http to a loopback address only
	// (localhost, 127.0.0.0/8, ::1).
	URL string
	// Algorithms are those of the provider the keys are for: a key that
	// fits none of them is left out, and a set with no key left is
	// refused.
	Algorithms []string
	// RefreshInterval is how old the key set may grow before a request
	// starts a refresh (served meanwhile with the keys held). Zero means
	// DefaultJWKSRefreshInterval.
	RefreshInterval time.Duration
	// MinRefreshInterval is the least time between two fetches started:
	// a token with an unknown kid asks for one, and gets it only when the
	// last started at least this long ago. Zero means
	// DefaultJWKSMinRefreshInterval.
	MinRefreshInterval time.Duration
	// Timeout bounds each fetch. Zero means DefaultJWKSTimeout.
	Timeout time.Duration
	// RootCAs verify the server's certificate; nil means the system's.
	RootCAs *x509.CertPool
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// JWKS holds the keys of a JWK Set URL (RFC 7517) for a JWTVerifier: the
// last good set, fetched again when a request finds it older than the
// refresh interval or meets a kid it lacks. Fetches are single-flight (all
// who need one share it) and rate-limited (MinRefreshInterval), bounded in
// time and size; a failed fetch, or an answer that is no usable JWK Set,
// leaves the set held in place. There is no background goroutine: requests
// drive refreshes, so a JWKS that no configuration uses any more costs
// nothing. It is safe for concurrent use.
type JWKS struct {
	s      JWKSSettings
	client *http.Client
	now    func() time.Time

	set     atomic.Pointer[jwksSet] // the last good set; nil before the first
	observe atomic.Pointer[func(result string, err error)]

	mu        sync.Mutex
	call      *jwksCall // the fetch in flight, or nil
	lastStart time.Time // when the last fetch started
	// started mirrors lastStart (Unix nanoseconds), read without the lock
	// by the requests that find the set stale: while the endpoint is down,
	// they pass by instead of queueing on mu.
	started atomic.Int64
}

// jwksSet is one fetched key set, immutable.
type jwksSet struct {
	ring    *keyRing
	keys    []JWTKey          // the document's keys, before ring took those of the algorithms
	digest  [sha256.Size]byte // of the document
	fetched time.Time         // when it was last fetched, as is
}

// jwksCall is one fetch, which several requests may wait for.
type jwksCall struct {
	done chan struct{}
	err  error
}

// NewJWKS checks s and returns a JWKS for it, holding no keys until its
// first fetch (Prefetch, or the first token to verify). A fault in s is a
// *SettingsError naming the field in the configuration's terms ("url",
// "algorithms", "timeout", …).
func NewJWKS(s JWKSSettings) (*JWKS, error) {
	u, err := url.Parse(s.URL)
	if err != nil || u.Host == "" {
		return nil, settingsErr("url", fmt.Errorf("%q: want an absolute https URL", s.URL))
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !loopbackHost(u.Hostname()) {
			return nil, settingsErr("url", fmt.Errorf("%q: http only to a loopback address; use https", s.URL))
		}
	default:
		return nil, settingsErr("url", fmt.Errorf("%q: want an https URL", s.URL))
	}
	if len(s.Algorithms) == 0 {
		return nil, settingsErr("algorithms", errors.New("list at least one"))
	}
	for _, alg := range s.Algorithms {
		if strings.HasPrefix(alg, "HS") {
			return nil, settingsErr("algorithms", fmt.Errorf("%s: a JWKS never supplies HMAC secrets (its oct keys are left out)", alg))
		}
	}
	for _, d := range []struct {
		field string
		v     time.Duration
	}{{"refresh_interval", s.RefreshInterval}, {"min_refresh_interval", s.MinRefreshInterval}, {"timeout", s.Timeout}} {
		if d.v < 0 {
			return nil, settingsErr(d.field, errors.New("must not be negative"))
		}
	}
	if s.RefreshInterval == 0 {
		s.RefreshInterval = DefaultJWKSRefreshInterval
	}
	if s.MinRefreshInterval == 0 {
		s.MinRefreshInterval = DefaultJWKSMinRefreshInterval
	}
	if s.Timeout == 0 {
		s.Timeout = DefaultJWKSTimeout
	}
	k := &JWKS{s: s, now: s.Now}
	if k.now == nil {
		k.now = time.Now
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: s.RootCAs, MinVersion: tls.VersionTLS12}
	tr.MaxIdleConnsPerHost = 1
	tr.MaxResponseHeaderBytes = maxJWKSHeaderBytes
	k.client = &http.Client{Transport: tr, Timeout: s.Timeout,
		// A redirect is not followed: the URL configured is the one trusted.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	return k, nil
}

func loopbackHost(h string) bool {
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// URL returns the JWK Set's URL.
func (k *JWKS) URL() string { return k.s.URL }

// Observe sets the function told of every fetch's result (one of the JWKS
// result constants) and its error, if any: the gateway logs and counts
// them. It is told once the fetch is over (a token may start the next) and
// before Refresh returns it. It may be called at any time; nil stops it.
func (k *JWKS) Observe(fn func(result string, err error)) {
	if fn == nil {
		k.observe.Store(nil)
		return
	}
	k.observe.Store(&fn)
}

// Ready reports whether a key set is held.
func (k *JWKS) Ready() bool { return k.set.Load() != nil }

// Prefetch starts a fetch in the background unless one is in flight or the
// last started less than MinRefreshInterval ago; it never blocks.
func (k *JWKS) Prefetch() { k.start(k.now()) }

// Refresh fetches the key set now, or joins the fetch in flight, and
// returns its error; it waits no longer than ctx allows. Unlike the
// refreshes that tokens ask for, it is not rate-limited.
func (k *JWKS) Refresh(ctx context.Context) error {
	k.mu.Lock()
	c := k.call
	if c == nil {
		c = k.launch(k.now())
	}
	k.mu.Unlock()
	return k.wait(ctx, c)
}

// Adopt makes prev's key set and fetch time k's, when both are for the same
// URL and k holds no set yet: a reload that keeps a provider's JWKS keeps
// its keys, without a fetch. With other algorithms, the keys of prev's
// document that fit k's are taken (a reload that adds an algorithm while
// the endpoint is down keeps the provider serving, where it answered 503
// to every token until the endpoint came back); with none that fits,
// nothing is. It reports whether it did.
func (k *JWKS) Adopt(prev *JWKS) bool {
	if prev == nil || prev == k || prev.s.URL != k.s.URL {
		return false
	}
	s := prev.set.Load()
	if s != nil && !sameSet(prev.s.Algorithms, k.s.Algorithms) {
		ring, _, err := newKeyRing(s.keys, k.s.Algorithms, false)
		if err != nil {
			return false
		}
		s = &jwksSet{ring: ring, keys: s.keys, digest: s.digest, fetched: s.fetched}
	}
	if s == nil || !k.set.CompareAndSwap(nil, s) {
		return false
	}
	prev.mu.Lock()
	last := prev.lastStart
	prev.mu.Unlock()
	k.mu.Lock()
	k.lastStart = last
	if !last.IsZero() {
		k.started.Store(last.UnixNano())
	}
	k.mu.Unlock()
	return true
}

// current returns the key ring held, or nil, and starts a refresh in the
// background when it is older than the refresh interval: a token found in
// a verifier's cache never reaches ring, and must age the set all the same.
func (k *JWKS) current() *keyRing {
	s := k.set.Load()
	if s == nil {
		return nil
	}
	if now := k.now(); now.Sub(s.fetched) >= k.s.RefreshInterval {
		k.refreshStale(now)
	}
	return s.ring
}

// refreshStale starts a background fetch of a stale set, unless the rate
// limit refuses it, which it checks without the lock first.
func (k *JWKS) refreshStale(now time.Time) {
	if last := k.started.Load(); last != 0 && now.UnixNano()-last < int64(k.s.MinRefreshInterval) && now.UnixNano() >= last {
		return
	}
	k.start(now)
}

// ring returns the keys to verify a token with: the set held, after a
// refresh, when the rate limit allows one, if the token names a kid (a
// non-empty string) the set lacks or there is no set yet. A set older than
// the refresh interval is returned at once and refreshed in the background.
func (k *JWKS) ring(ctx context.Context, kid string, named bool) (*keyRing, error) {
	now := k.now()
	s := k.set.Load()
	switch {
	case s == nil || named && kid != "" && !s.ring.has(kid):
		if c := k.start(now); c != nil {
			_ = k.wait(ctx, c) // a failure leaves the set held: looked at below
		}
		// Again, even when refused: a fetch may have ended since the load.
		s = k.set.Load()
	case now.Sub(s.fetched) >= k.s.RefreshInterval:
		k.refreshStale(now)
	}
	if s == nil {
		return nil, ErrKeysUnavailable
	}
	return s.ring, nil
}

// start returns the fetch in flight, or starts one when the last started
// at least MinRefreshInterval before now; nil when the rate limit refuses.
func (k *JWKS) start(now time.Time) *jwksCall {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.call != nil {
		return k.call
	}
	if !k.lastStart.IsZero() && now.Sub(k.lastStart) < k.s.MinRefreshInterval && !now.Before(k.lastStart) {
		return nil
	}
	return k.launch(now)
}

// launch starts a fetch; k.mu is held.
func (k *JWKS) launch(now time.Time) *jwksCall {
	c := &jwksCall{done: make(chan struct{})}
	k.call, k.lastStart = c, now
	k.started.Store(now.UnixNano())
	go func() {
		result, err := k.get()
		k.mu.Lock()
		k.call = nil
		k.mu.Unlock()
		// Reported once the fetch is no longer in flight, so that the
		// observer never hears of a fetch a token could still join, and
		// before its waiters wake, so that they find it reported.
		if fn := k.observe.Load(); fn != nil {
			(*fn)(result, err)
		}
		c.err = err
		close(c.done)
	}()
	return c
}

// wait waits for c, or for ctx to end.
func (k *JWKS) wait(ctx context.Context, c *jwksCall) error {
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// get fetches the document, keeps its key set when it is a good one, and
// says how the fetch ended (JWKSLoaded and the other results).
func (k *JWKS) get() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), k.s.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, k.s.URL, nil)
	if err != nil {
		return JWKSFailed, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := k.client.Do(req)
	if err != nil {
		return JWKSFailed, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return JWKSFailed, fmt.Errorf("status %d", resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, MaxJWKSBytes+1))
	if err != nil {
		return JWKSFailed, err
	}
	if len(data) > MaxJWKSBytes {
		return JWKSRefused, fmt.Errorf("larger than %d bytes", MaxJWKSBytes)
	}
	digest := sha256.Sum256(data)
	now := k.now()
	if old := k.set.Load(); old != nil && old.digest == digest {
		// The same keys: the same ring, so cached tokens stay cached.
		k.set.Store(&jwksSet{ring: old.ring, keys: old.keys, digest: digest, fetched: now})
		return JWKSUnchanged, nil
	}
	keys, _, err := parseJWKSet(data)
	if err != nil {
		return JWKSRefused, err
	}
	if len(keys) > MaxJWKSKeys {
		return JWKSRefused, fmt.Errorf("%d keys: at most %d are taken", len(keys), MaxJWKSKeys)
	}
	ring, _, err := newKeyRing(keys, k.s.Algorithms, false)
	if err != nil {
		return JWKSRefused, err
	}
	k.set.Store(&jwksSet{ring: ring, keys: keys, digest: digest, fetched: now})
	return JWKSLoaded, nil
}
