package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/internal/jwktest"
)

// jwksGateway is a gateway serving on loopback, with its configuration
// file and its log.
type jwksGateway struct {
	*gateway
	addr, path string
	logs       *logBuffer
}

// startJWKSGateway starts a gateway of the configuration text.
func startJWKSGateway(t *testing.T, text string) jwksGateway {
	t.Helper()
	cfg, path := loadFile(t, text)
	logger, logs := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	return jwksGateway{gateway: g, addr: serveHandler(t, g.handler(), config.ServerSluice), path: path, logs: logs}
}

// reloadText writes text to the gateway's file and reloads it, as SIGHUP
// does, and waits for it to be applied.
func (g jwksGateway) reloadText(t *testing.T, text string) {
	t.Helper()
	writeFile(t, g.path, text)
	g.reload(func() (*config.Config, error) { return config.Load(g.path) })
	g.logs.waitFor(t, "configuration reloaded", 1)
}

// TestAReloadToAJWKSThatIsDownLeavesTheGatewayReady: once the gateway has
// served with every provider's keys, a reload whose provider must fetch
// keys afresh (its url changed, a typo, or its issuer down at that moment;
// its algorithms changed; a provider added) makes only that provider's
// routes answer 503 keys-unavailable until its keys load. /readyz stays
// 200: a configuration pushed to every replica must not take every route
// of the fleet out of its load balancers. The endpoint's recovery is seen
// without a restart.
func TestAReloadToAJWKSThatIsDownLeavesTheGatewayReady(t *testing.T) {
	idp := jwktest.NewServer(t)
	a := newSigningKey(t, "a")
	idp.Publish(a.jwk())
	down := jwktest.NewServer(t)
	down.Serve(http.StatusServiceUnavailable, []byte("down"))
	backend := echoBackend(t)
	g := startJWKSGateway(t, jwksConfig(backend, idp.URL, "1h", "10ms"))
	addr, logs, c := g.addr, g.logs, freshClient()
	// No readiness probe: the gateway may not have been asked before.
	logs.waitFor(t, "JWKS keys loaded", 1)
	if status, body := call(t, c, addr, "/authed", a.token(t, "a")); status != http.StatusOK {
		t.Fatalf("/authed before the reload: %d %s", status, body)
	}

	g.reloadText(t, jwksConfig(backend, down.URL, "1h", "10ms"))
	logs.waitFor(t, "JWKS fetch failed; the provider's routes answer 503 until its keys load", 1)
	if rec := get(g.adminHandler(), "/readyz"); rec.Code != http.StatusOK {
		t.Errorf("/readyz after a reload to a JWKS that is down: %d %s", rec.Code, rec.Body)
	}
	if status, _ := call(t, c, addr, "/open", ""); status != http.StatusOK {
		t.Errorf("/open: %d", status)
	}
	if status, body := call(t, c, addr, "/authed", a.token(t, "a")); status != http.StatusServiceUnavailable || !strings.Contains(body, "keys-unavailable") {
		t.Errorf("/authed with the new provider's keys not loaded: %d %s", status, body)
	}

	down.Publish(a.jwk())
	deadline := time.Now().Add(waitLimit)
	for {
		status, body := call(t, c, addr, "/authed", a.token(t, "a"))
		if status == http.StatusOK {
			break
		}
		if status != http.StatusServiceUnavailable || time.Now().After(deadline) {
			t.Fatalf("/authed once the endpoint is back: %d %s", status, body)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition: min_refresh_interval is 10ms
	}
}

// TestAReloadThatOnlyChangesAJWKSProvidersAlgorithmsKeepsItsKeys: a reload
// that adds an algorithm to a provider (ES256, then ES256 and EdDSA) while
// its issuer's endpoint is down keeps the keys already fetched, taken
// again for the new algorithms, without a fetch: tokens signed as before
// still verify. The provider's routes answered 503 keys-unavailable for
// every token until the endpoint came back.
func TestAReloadThatOnlyChangesAJWKSProvidersAlgorithmsKeepsItsKeys(t *testing.T) {
	idp := jwktest.NewServer(t)
	a := newSigningKey(t, "a")
	idp.Publish(a.jwk())
	backend := echoBackend(t)
	g := startJWKSGateway(t, jwksConfig(backend, idp.URL, "1h", "10ms"))
	addr, logs, c := g.addr, g.logs, freshClient()
	logs.waitFor(t, "JWKS keys loaded", 1)

	idp.Serve(http.StatusInternalServerError, []byte("down"))
	fetches := idp.Fetches()
	g.reloadText(t, strings.Replace(jwksConfig(backend, idp.URL, "1h", "10ms"), "algorithms: [ES256]", "algorithms: [ES256, EdDSA]", 1))
	if status, body := call(t, c, addr, "/authed", a.token(t, "a")); status != http.StatusOK {
		t.Errorf("/authed after a reload that added an algorithm, the endpoint down: %d %s", status, body)
	}
	if n := idp.Fetches(); n != fetches {
		t.Errorf("the reload fetched the JWKS again (%d fetches, was %d)", n, fetches)
	}
}
