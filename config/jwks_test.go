package config_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
)

func TestParseJWKS(t *testing.T) {
	file := edgeFile(t)
	c, err := config.Parse(file, []byte(nodes+`auth:
  jwt:
    idp:
      algorithms: [RS256, ES256]
      jwks: {url: "https://id.example/.well-known/jwks.json", refresh_interval: 10m, min_refresh_interval: 1m, timeout: 2s}
routes:
  - {path: /a, service: svc, auth: idp}
`))
	if err != nil {
		t.Fatal(err)
	}
	k := c.JWKS()["idp"]
	if k == nil || k.URL() != "https://id.example/.well-known/jwks.json" || c.JWTVerifier("idp") == nil {
		t.Fatalf("jwks %v, verifier %v", k, c.JWTVerifier("idp"))
	}
	if j := c.Auth.JWT["idp"].JWKS; j.RefreshInterval != 10*time.Minute || j.MinRefreshInterval != time.Minute || j.Timeout != 2*time.Second {
		t.Errorf("jwks block %+v", j)
	}
	if k.Ready() {
		t.Error("ready before any fetch: loading the file fetched")
	}
}

func TestJWKSErrorsPointAtTheField(t *testing.T) {
	t.Setenv(testSecretEnv, strings.Repeat("k", 32))
	file := edgeFile(t)
	provider := func(algs, rest string) string {
		return nodes + "auth:\n  jwt:\n    idp:\n      algorithms: [" + algs + "]\n" + rest
	}
	tests := []struct {
		name      string
		yaml      string
		line, col int
		path, msg string
	}{
		{"no url", provider("RS256", "      jwks: {timeout: 1s}\n"), 8, 13, "auth.jwt.idp.jwks", "url is required"},
		{"plain http", provider("RS256", "      jwks: {url: \"http://id.example/jwks\"}\n"), 8, 19, "auth.jwt.idp.jwks.url", "http only to a loopback"},
		{"HMAC from a JWKS", provider("HS256", "      jwks: {url: \"https://id.example/jwks\"}\n"), 7, 19, "auth.jwt.idp.algorithms", "never supplies HMAC"},
		{"keys and jwks", provider("ES256", "      keys: [{public_key_file: es.pem}]\n      jwks: {url: \"https://id.example/jwks\"}\n"), 9, 13, "auth.jwt.idp.jwks", "not both"},
		{"negative timeout", provider("RS256", "      jwks: {url: \"https://id.example/jwks\", timeout: -1s}\n"), 8, 55, "auth.jwt.idp.jwks.timeout", "negative"},
		{"ca file not PEM", provider("RS256", "      jwks: {url: \"https://id.example/jwks\", ca_file: garbage.pem}\n"), 8, 55, "auth.jwt.idp.jwks.ca_file", "no PEM certificate"},
		{"ca file missing", provider("RS256", "      jwks: {url: \"https://id.example/jwks\", ca_file: nowhere.pem}\n"), 8, 55, "auth.jwt.idp.jwks.ca_file", "nowhere.pem"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse(file, []byte(tt.yaml))
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Parse = %v, want a *config.Error", err)
			}
			if ce.Line != tt.line || ce.Column != tt.col || ce.Path != tt.path || !strings.Contains(ce.Msg, tt.msg) {
				t.Errorf("got %v\nwant %d:%d: %s: …%s…", err, tt.line, tt.col, tt.path, tt.msg)
			}
		})
	}
}
