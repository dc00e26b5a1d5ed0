package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/internal/jwktest"
)

// jwksConfig is a gateway whose provider idp takes its keys from url, with
// a route that needs it and one that does not.
func jwksConfig(backend, url, refresh, minRefresh string) string {
	return `auth:
  jwt:
    idp:
      algorithms: [ES256]
      audiences: [api]
      jwks: {url: "` + url + `", refresh_interval: ` + refresh + `, min_refresh_interval: ` + minRefresh + `}
      forward_claims: {sub: X-Sluice-Subject}
` + configText(backend, `  - {name: authed, path: /authed, service: svc, auth: idp}
  - {name: open, path: /open, service: svc}
`)
}

// signingKey is one of the issuer's keys, counting the requests in flight
// with a token it signed.
type signingKey struct {
	kid      string
	priv     *ecdsa.PrivateKey
	inflight atomic.Int64
}

func newSigningKey(t *testing.T, kid string) *signingKey {
	t.Helper()
	p, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &signingKey{kid: kid, priv: p}
}

func (k *signingKey) jwk() map[string]any { return jwktest.Key(&k.priv.PublicKey, k.kid, "ES256") }

// token signs a fresh token (ECDSA signatures differ each time, so no two
// are alike and none comes from the gateway's token cache).
func (k *signingKey) token(t testing.TB, kid string) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"sub": "u-" + k.kid, "aud": "api",
		"exp": time.Now().Add(time.Hour).Unix()})
	tok.Header["kid"] = kid
	s, err := tok.SignedString(k.priv)
	if err != nil {
		t.Error(err)
	}
	return s
}

// call sends GET path with a bearer token and returns the status.
func call(t testing.TB, c *http.Client, addr, path, token string) (int, string) {
	req, err := http.NewRequest("GET", "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// waitReady polls /readyz until it answers 200.
func waitReady(t *testing.T, g *gateway) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for get(g.adminHandler(), "/readyz").Code != http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatalf("not ready after %v: %s", waitLimit, get(g.adminHandler(), "/readyz").Body)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition
	}
}

// TestJWKSRotationUnderLoad rotates the issuer's key three times while
// clients send valid tokens at a steady rate, the way an issuer rotates:
// the new key is published beside the old one, tokens are signed with it
// once the gateway has it, and the old key is retired once no token it
// signed is in flight. No valid token may fail; tokens signed with a key
// never published, or with a retired one, get 401.
func TestJWKSRotationUnderLoad(t *testing.T) {
	idp := jwktest.NewServer(t)
	keys := []*signingKey{newSigningKey(t, "k0"), newSigningKey(t, "k1"), newSigningKey(t, "k2"), newSigningKey(t, "k3")}
	never := newSigningKey(t, "never")
	idp.Publish(keys[0].jwk())
	cfg, _ := loadFile(t, jwksConfig(echoBackend(t), idp.URL, "100ms", "50ms"))
	logger, logs := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	g.accessLogger = nil
	addr := serveHandler(t, g.handler(), config.ServerSluice)
	waitReady(t, g)
	loaded := 1
	logs.waitFor(t, "JWKS keys loaded", loaded)

	var current atomic.Pointer[signingKey]
	current.Store(keys[0])
	var ok, bad, refused, wrongRefusal atomic.Int64
	var failures sync.Map // first failures, for the message
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}, Timeout: waitLimit}
	const clients, every = 4, 4 * time.Millisecond
	for i := range clients {
		wg.Go(func() {
			tick := time.NewTicker(every)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				k := current.Load()
				k.inflight.Add(1)
				if current.Load() != k { // switched meanwhile: sign with the new one
					k.inflight.Add(-1)
					continue
				}
				status, body := call(t, client, addr, "/authed", k.token(t, k.kid))
				k.inflight.Add(-1)
				if status == http.StatusOK && body == "/authed" {
					ok.Add(1)
					continue
				}
				bad.Add(1)
				failures.LoadOrStore(fmt.Sprintf("client %d: %s", i, k.kid), fmt.Sprintf("%d %s", status, body))
			}
		})
	}
	// A forger sends, at a lower rate, tokens signed with a key never
	// published: under its own kid, and under the kid in use.
	wg.Go(func() {
		tick := time.NewTicker(5 * every)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			kid := "never"
			if n%2 == 1 {
				kid = current.Load().kid
			}
			if status, _ := call(t, client, addr, "/authed", never.token(t, kid)); status == http.StatusUnauthorized {
				refused.Add(1)
			} else {
				wrongRefusal.Add(1)
			}
		}
	})
	// waitOK waits until n more valid requests have succeeded.
	waitOK := func(n int64) {
		t.Helper()
		target, deadline := ok.Load()+n, time.Now().Add(60*time.Second)
		for ok.Load() < target {
			if time.Now().After(deadline) || bad.Load() > 0 {
				close(stop)
				wg.Wait()
				t.Fatalf("%d succeeded, %d failed, waiting for %d", ok.Load(), bad.Load(), target)
			}
			time.Sleep(time.Millisecond) // polling a condition
		}
	}
	start, startFetches := time.Now(), idp.Fetches()
	waitOK(100)
	for i := 1; i < len(keys); i++ {
		old, next := keys[i-1], keys[i]
		idp.Publish(old.jwk(), next.jwk()) // published ahead of use
		loaded++
		logs.waitFor(t, "JWKS keys loaded", loaded)
		waitOK(100)
		current.Store(next)
		for deadline := time.Now().Add(waitLimit); old.inflight.Load() > 0; {
			if time.Now().After(deadline) {
				t.Fatalf("tokens signed with %s still in flight", old.kid)
			}
			time.Sleep(time.Millisecond) // polling a condition
		}
		waitOK(100)
		idp.Publish(next.jwk()) // the old key retired
		loaded++
		logs.waitFor(t, "JWKS keys loaded", loaded)
		if status, body := call(t, client, addr, "/authed", old.token(t, old.kid)); status != http.StatusUnauthorized {
			t.Errorf("token signed with the retired key %s: %d %s", old.kid, status, body)
		}
		waitOK(100)
	}
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	failures.Range(func(k, v any) bool { t.Errorf("%s: %s", k, v); return true })
	if bad.Load() != 0 {
		t.Errorf("%d of %d valid tokens failed", bad.Load(), ok.Load()+bad.Load())
	}
	if wrongRefusal.Load() != 0 || refused.Load() == 0 {
		t.Errorf("forged tokens: %d refused with 401, %d answered otherwise", refused.Load(), wrongRefusal.Load())
	}
	t.Logf("%d valid tokens in %v (%.0f/s), 0 failed; %d forged refused; %d key sets loaded; %d JWKS fetches",
		ok.Load(), elapsed.Round(time.Millisecond), float64(ok.Load())/elapsed.Seconds(), refused.Load(), loaded, idp.Fetches()-startFetches)
}

// TestJWKSNewKidBeforeTheIntervalRefresh: a token signed with a key
// published after the gateway's last fetch, long before its next interval
// refresh, is accepted: its unknown kid refreshes the set.
func TestJWKSNewKidBeforeTheIntervalRefresh(t *testing.T) {
	idp := jwktest.NewServer(t)
	a, b := newSigningKey(t, "a"), newSigningKey(t, "b")
	idp.Publish(a.jwk())
	cfg, _ := loadFile(t, jwksConfig(echoBackend(t), idp.URL, "1h", "50ms"))
	logger, _ := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	addr := serveHandler(t, g.handler(), config.ServerSluice)
	waitReady(t, g)
	// The first fetch has ended; once min_refresh_interval has passed
	// since it started, a refresh is allowed.
	time.Sleep(50 * time.Millisecond)
	idp.Publish(a.jwk(), b.jwk())
	c := freshClient()
	if status, body := call(t, c, addr, "/authed", b.token(t, "b")); status != http.StatusOK {
		t.Fatalf("token with the new kid: %d %s", status, body)
	}
	if n := idp.Fetches(); n != 2 {
		t.Errorf("%d fetches, want 2: the first, and the refresh for kid b", n)
	}
	if status, _ := call(t, c, addr, "/authed", a.token(t, "a")); status != http.StatusOK {
		t.Errorf("token with the old kid: %d", status)
	}
}

// TestJWKSEndpointDownAtStart: until its JWKS has answered once, the gateway
// is not ready and the provider's routes answer 503 keys-unavailable (a
// token cannot be judged); other routes serve. Readiness probes retry the
// fetch; once it succeeds, everything serves, and a reload keeps the keys
// without a fetch even when the endpoint has gone down again.
func TestJWKSEndpointDownAtStart(t *testing.T) {
	idp := jwktest.NewServer(t)
	idp.Serve(http.StatusServiceUnavailable, []byte("down"))
	a := newSigningKey(t, "a")
	cfg, path := loadFile(t, jwksConfig(echoBackend(t), idp.URL, "1h", "10ms"))
	logger, logs := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	addr := serveHandler(t, g.handler(), config.ServerSluice)
	c := freshClient()
	logs.waitFor(t, "JWKS fetch failed; the provider's routes answer 503 until its keys load", 1)
	if rec := get(g.adminHandler(), "/readyz"); rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "idp") {
		t.Errorf("/readyz with no keys: %d %s", rec.Code, rec.Body)
	}
	if status, body := call(t, c, addr, "/authed", a.token(t, "a")); status != http.StatusServiceUnavailable || !strings.Contains(body, "keys-unavailable") {
		t.Errorf("/authed with no keys: %d %s", status, body)
	}
	if status, _ := call(t, c, addr, "/open", ""); status != http.StatusOK {
		t.Errorf("/open with no keys: %d", status)
	}
	idp.Publish(a.jwk())
	waitReady(t, g)
	if status, body := call(t, c, addr, "/authed", a.token(t, "a")); status != http.StatusOK {
		t.Errorf("/authed once loaded: %d %s", status, body)
	}
	metrics := get(g.adminHandler(), "/metrics").Body.String()
	for _, want := range []string{`sluice_jwks_refresh_total{provider="idp",result="failed"}`, `sluice_jwks_refresh_total{provider="idp",result="loaded"} 1`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	idp.Serve(http.StatusInternalServerError, []byte("down again"))
	fetches := idp.Fetches()
	g.reload(func() (*config.Config, error) { return config.Load(path) })
	logs.waitFor(t, "configuration reloaded", 1)
	if rec := get(g.adminHandler(), "/readyz"); rec.Code != http.StatusOK {
		t.Errorf("/readyz after a reload: %d %s", rec.Code, rec.Body)
	}
	if status, body := call(t, c, addr, "/authed", a.token(t, "a")); status != http.StatusOK {
		t.Errorf("/authed after a reload with the endpoint down: %d %s", status, body)
	}
	if n := idp.Fetches(); n != fetches {
		t.Errorf("the reload fetched the JWKS again (%d fetches, was %d)", n, fetches)
	}
}
