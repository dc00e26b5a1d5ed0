package config_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/config"
)

// TestErrorsNeverShowEnvironmentValues: a value that came from ${NAME} is
// shown in an error as ${NAME}, never as itself: it may be a secret, and the
// error goes to logs and to GET /admin/config. (A Redis URL with its
// password, written where an address belongs, was quoted whole.)
func TestErrorsNeverShowEnvironmentValues(t *testing.T) {
	t.Setenv("SLUICE_T_REDIS", "redis://:hunter2-redis@10.0.0.9:6379")
	t.Setenv("SLUICE_T_JWKS", "http://user:hunter2-jwks@10.0.0.9/jwks")
	t.Setenv("SLUICE_T_GRACE", "hunter2 \"grace\"")
	t.Setenv("SLUICE_T_TIMEOUT", "10s")
	tests := []struct {
		name, yaml, secret, want string
	}{
		{"validation", nodes + "redis: {address: \"${SLUICE_T_REDIS}\"}\n",
			"hunter2-redis", `redis.address: address "${SLUICE_T_REDIS}" must be host:port`},
		{"inside a value", nodes + "redis: {address: \"x${SLUICE_T_REDIS}\"}\n",
			"hunter2-redis", `"x${SLUICE_T_REDIS}"`},
		{"a field's parent", nodes + "auth:\n  jwt:\n    p: {algorithms: [RS256], jwks: {url: \"${SLUICE_T_JWKS}\"}}\n",
			"hunter2-jwks", `${SLUICE_T_JWKS}`},
		{"decoding, quoted", "shutdown_grace: ${SLUICE_T_GRACE}\n",
			"hunter2", `shutdown_grace: bad duration "${SLUICE_T_GRACE}"`},
		// Related fields are told by their reference, and text that only
		// contains a value is left alone.
		{"another field of the branch", nodes + "routes:\n  - {path: /x, service: svc, budget: {timeout: \"${SLUICE_T_TIMEOUT}\", max: 5s}}\n",
			"(10s)", "max (5s) must be at least timeout (${SLUICE_T_TIMEOUT})"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := config.Parse("env.yaml", []byte(tt.yaml))
			if err == nil {
				t.Fatal("Parse = nil, want an error")
			}
			var ce *config.Error
			if !errors.As(err, &ce) || ce.Line == 0 {
				t.Errorf("Parse = %v, want a *config.Error with its line", err)
			}
			if msg := err.Error(); strings.Contains(msg, tt.secret) || !strings.Contains(msg, tt.want) {
				t.Errorf("error %q: want %q in it, and not %q", msg, tt.want, tt.secret)
			}
		})
	}
}

// TestRedactionLeavesOtherTextAlone: only whole values, in fields on the
// error's branch, are replaced; a short value does not eat into the
// numbers of a message (15s stays, though a variable holds 5), nor into
// another part's (redis.db's 1 is not redis.failures').
func TestRedactionLeavesOtherTextAlone(t *testing.T) {
	t.Setenv("SLUICE_T_DB", "1")
	t.Setenv("SLUICE_T_FIVE", "5")
	_, err := config.Parse("env.yaml", []byte(nodes+"redis: {address: \"127.0.0.1:6379\", db: \"${SLUICE_T_DB}\", failures: -1}\n"+
		"routes:\n  - {path: /x, service: svc, budget: {timeout: 15s, max: \"${SLUICE_T_FIVE}s\"}}\n"))
	if err == nil {
		t.Fatal("Parse = nil, want an error")
	}
	for _, want := range []string{"redis.failures: must be at least 1", "max (${SLUICE_T_FIVE}s) must be at least timeout (15s)"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q: want %q in it", err, want)
		}
	}
}
