package main

import (
	"crypto/tls"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A certificate that cannot be saved (the storage directory of its name
// read-only: an immutable directory, which root cannot write either) is
// logged, with certmagic's error; a handshake a client makes is not. It
// was not: the CA issued a certificate at each attempt, certmagic dropped
// it, and the gateway logged nothing, at the first order as at renewals,
// where the held certificate expired in silence.
func TestACMEACertificateThatCannotBeSavedIsLogged(t *testing.T) {
	e := newACMEEnv(t)
	u, err := url.Parse(e.pebble.Directory)
	if err != nil {
		t.Fatal(err)
	}
	// certmagic's key of the CA, then the name's directory.
	site := filepath.Join(e.dir, "store", "certificates", strings.ReplaceAll(u.Host, ":", "-")+strings.ReplaceAll(u.Path, "/", "-"), acmeName)
	if err := os.MkdirAll(site, 0o700); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chattr", "+i", site).CombinedOutput(); err != nil {
		t.Skipf("chattr +i (root and a file system with the immutable attribute are needed): %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("chattr", "-i", site).Run() })
	logs, _ := e.start(t, "store", "        profile: default\n", 0)
	// A client offering acme-tls/1 alone for a name without a challenge
	// makes certmagic log an error: not passed on (net/http logs the
	// failed handshake already).
	for range 3 {
		c, err := tls.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", e.tlsPort),
			&tls.Config{ServerName: "evil.example", NextProtos: []string{"acme-tls/1"}, InsecureSkipVerify: true})
		if err == nil {
			c.Close()
			t.Error("a handshake offering acme-tls/1 for a name without a challenge succeeded")
		}
	}
	deadline := time.After(acmeLimit)
	for {
		_, changed := logs.find("") // taken before the look, so that no line is missed
		if line := savingError(logs); line != "" {
			t.Logf("logged: %s", line)
			break
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("no error logged for a certificate that could not be saved; log:\n%s", logs.String())
		}
	}
	if strings.Contains(logs.String(), "tls-alpn challenge") {
		t.Errorf("a client's handshake was logged:\n%s", logs.String())
	}
}

// savingError returns the first line of logs passed on from certmagic
// that says a certificate could not be saved, or "".
func savingError(logs *logBuffer) string {
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, `"level":"ERROR","msg":"acme: certmagic: `) && strings.Contains(line, "saving assets") {
			return line
		}
	}
	return ""
}
