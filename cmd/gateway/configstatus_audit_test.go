package main

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/internal/jwktest"
)

// TestARevertedSourceClearsTheRefusal: once the source holds the version
// that serves again (a bad edit reverted; a file emptied, a debounce
// passing, then written back the same), GET /admin/config shows no
// refusal: it showed "the file is empty" for as long as the gateway ran,
// though the file was fine and nothing had failed since. A bad version
// written again after that is reported again.
func TestARevertedSourceClearsTheRefusal(t *testing.T) {
	backend := echoBackend(t)
	cfg, _ := loadFile(t, configText(backend, "  - {path: /v1, service: svc}\n"))
	logger, logs := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	refused := func() *configVersion {
		t.Helper()
		rec := httptest.NewRecorder()
		g.status.ServeHTTP(rec, httptest.NewRequest("GET", "/admin/config", nil))
		var out struct{ Refused *configVersion }
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatal(err)
		}
		return out.Refused
	}
	empty := loaded{hash: "empty", err: &config.Error{File: "gateway.yaml", Msg: "the file is empty"}}
	g.applyLoaded(empty, false)
	if refused() == nil {
		t.Fatal("/admin/config shows no refusal of the empty file")
	}

	g.applyLoaded(loaded{cfg: cfg, hash: cfg.Hash()}, false) // written back the same
	if r := refused(); r != nil {
		t.Errorf("/admin/config still shows %q refused while the file holds the version serving", r.Error)
	}
	if found, _ := logs.find("configuration source holds the version serving again; the last refusal no longer applies"); len(found) != 1 {
		t.Errorf("logged the recovery %d times, want once", len(found))
	}
	if n := testutil.ToFloat64(g.status.reloads.WithLabelValues(sourceFile, reloadApplied)); n != 0 {
		t.Errorf("the serving text counted as %v reloads, want none", n)
	}

	g.applyLoaded(empty, false) // emptied again: a new fault, reported
	if refused() == nil {
		t.Error("the file emptied again is not shown refused")
	}
	if n := testutil.ToFloat64(g.status.reloads.WithLabelValues(sourceFile, reloadRefused)); n != 2 {
		t.Errorf("refusals counted %v, want 2: the second emptying is a new one", n)
	}
}

// TestJWKSURLCredentialsStayOutOfTheLog: a JWKS URL may carry the
// credentials its server asks for; the log lines of its fetches show the
// URL with the password replaced (they showed it whole).
func TestJWKSURLCredentialsStayOutOfTheLog(t *testing.T) {
	idp := jwktest.NewServer(t)
	idp.Publish(newSigningKey(t, "k0").jwk())
	withCreds := strings.Replace(idp.URL, "http://", "http://reader:hunter2-jwks@", 1)
	cfg, _ := loadFile(t, jwksConfig(echoBackend(t), withCreds, "5m", "30s"))
	logger, logs := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	waitReady(t, g)
	found := logs.waitFor(t, "JWKS keys loaded", 1)
	if strings.Contains(logs.String(), "hunter2-jwks") {
		t.Errorf("the log shows the JWKS URL's password:\n%s", logs.String())
	}
	if u, _ := found[0]["url"].(string); !strings.HasPrefix(u, "http://reader:xxxxx@") {
		t.Errorf("logged url %q, want the user and the password redacted", u)
	}
}

// TestRestartOnlyChangesAreShown: a reload that changes settings only a
// restart applies (here shutdown_grace and the listener's address) serves
// its routes, and says which settings still run as at the start, in
// /admin/config and in its log line: the new version's hash alone said
// that the file's listeners served, while the old ones did. A version
// whose restart-only settings are those of the start needs nothing, TLS
// files and all.
func TestRestartOnlyChangesAreShown(t *testing.T) {
	dir := t.TempDir()
	siteCerts(t, dir)
	tlsListener := `listeners: [{address: "127.0.0.1:0", tls: {cert_file: "` + filepath.Join(dir, "site.crt") +
		`", key_file: "` + filepath.Join(dir, "site.key") + `"}}]`
	backend := echoBackend(t)
	text := func(routes string) string {
		return strings.Replace(configText(backend, routes), `listeners: [{address: "127.0.0.1:0"}]`, tlsListener, 1)
	}
	v1 := text("  - {path: /v1, service: svc}\n")
	cfg, _ := loadFile(t, v1)
	logger, logs := newLogger()
	g, err := newGateway(cfg, logger)
	if err != nil {
		t.Fatal(err)
	}
	pending := func() []string {
		t.Helper()
		rec := httptest.NewRecorder()
		g.status.ServeHTTP(rec, httptest.NewRequest("GET", "/admin/config", nil))
		var out struct{ Applied configVersion }
		if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
			t.Fatal(err)
		}
		return out.Applied.RestartRequired
	}
	reload := func(text string) {
		t.Helper()
		next, _ := loadFile(t, text)
		g.applyLoaded(loaded{cfg: next, hash: next.Hash()}, false)
	}

	v2 := strings.Replace(strings.Replace(text("  - {path: /v2, service: svc}\n"), "shutdown_grace: 5s", "shutdown_grace: 7s", 1),
		"127.0.0.1:0", "127.0.0.2:0", 1)
	reload(v2)
	if got := pending(); !slices.Equal(got, []string{"listeners", "shutdown_grace"}) {
		t.Errorf("restart_required = %q, want listeners and shutdown_grace", got)
	}
	if found, _ := logs.find("configuration reloaded"); len(found) != 1 || fmt.Sprint(found[0]["restart_required"]) != "[listeners shutdown_grace]" {
		t.Errorf("reload logged as %v, want restart_required [listeners shutdown_grace]", found)
	}
	if code := get(g.handler(), "/v2").Code; code != 200 {
		t.Errorf("/v2 = %d: the routes of the version were not applied", code)
	}

	reload(text("  - {path: /v3, service: svc}\n")) // the start's settings again
	if got := pending(); got != nil {
		t.Errorf("restart_required = %q for a version with the settings of the start, want none", got)
	}
}
