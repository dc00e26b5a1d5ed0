package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/config/source"
)

func TestEnvReferencesAreExpandedInValues(t *testing.T) {
	t.Setenv("SLUICE_T_GRACE", "7s")
	t.Setenv("SLUICE_T_EMPTY", "")
	t.Setenv("SLUICE_T_TRICKY", "a: b\n- c # d")
	const text = nodes + `shutdown_grace: ${SLUICE_T_GRACE}
drain_delay: ${SLUICE_T_UNSET:-2s}
routes:
  - name: "${SLUICE_T_EMPTY:-fallback}-x"
    path: /a/{id:[0-9]+$}
    service: svc
  - name: "cost $$5 ${SLUICE_T_TRICKY}"   # ${NOT_READ_IN_COMMENTS}
    path: /b
    service: svc
`
	c, err := config.Parse("env.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	if c.ShutdownGrace != 7*time.Second || c.DrainDelay != 2*time.Second {
		t.Errorf("shutdown_grace %v, drain_delay %v: want 7s and 2s from the environment and the default", c.ShutdownGrace, c.DrainDelay)
	}
	if got := c.Routes[0].Name; got != "fallback-x" {
		t.Errorf("an empty variable with a default: name %q, want fallback-x", got)
	}
	if got := c.Routes[0].Path; got != "/a/{id:[0-9]+$}" {
		t.Errorf("a $ not followed by { or $ is kept: path %q", got)
	}
	if got, want := c.Routes[1].Name, "cost $5 a: b\n- c # d"; got != want {
		t.Errorf("$$ and a value with YAML syntax in it: name %q, want %q", got, want)
	}
}

func TestEnvReferenceErrorsPointAtTheReference(t *testing.T) {
	tests := []struct {
		name      string
		yaml      string
		line, col int
		msg       string
	}{
		{"unset without default", "shutdown_grace: ${SLUICE_T_NOPE}\n", 1, 17, "environment variable SLUICE_T_NOPE is not set"},
		{"unset, further in the value", nodes + "routes:\n  - path: /a\n    name: ab${SLUICE_T_NOPE}\n", 6, 13, "SLUICE_T_NOPE is not set"},
		{"quoted", "shutdown_grace: \"${SLUICE_T_NOPE}\"\n", 1, 18, "SLUICE_T_NOPE is not set"},
		{"unterminated", "shutdown_grace: x${SLUICE_T_GRACE\n", 1, 18, "unterminated ${"},
		{"bad name", "shutdown_grace: ${1X}\n", 1, 17, "bad environment reference ${1X}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse("env.yaml", []byte(tt.yaml))
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("Parse = %v, want a *config.Error", err)
			}
			if ce.Line != tt.line || ce.Column != tt.col || !strings.Contains(ce.Msg, tt.msg) {
				t.Errorf("error %q at %d:%d, want %d:%d with %q", ce.Msg, ce.Line, ce.Column, tt.line, tt.col, tt.msg)
			}
		})
	}
}

func TestParseInTakesRelativeFilesFromDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "secret"), []byte(strings.Repeat("k", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	const text = nodes + `auth:
  jwt:
    p: {algorithms: [HS256], keys: [{hmac_secret_file: secret}]}
`
	if _, err := config.Parse("consul://127.0.0.1:8500/sluice/config", []byte(text)); err == nil {
		t.Fatal("Parse found the key file next to a name that is no file")
	}
	c, err := config.ParseIn("consul://127.0.0.1:8500/sluice/config", dir, []byte(text))
	if err != nil {
		t.Fatalf("ParseIn: %v", err)
	}
	if c.Hash() != source.Hash([]byte(text)) {
		t.Errorf("Hash() = %s, want the SHA-256 of the text", c.Hash())
	}
}
