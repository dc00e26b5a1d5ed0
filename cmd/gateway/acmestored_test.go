package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"testing"
)

// A certificate in storage that cannot be loaded (a truncated file, a key
// that is not the certificate's) is set aside and a new one obtained at
// start, with the reason logged. certmagic gave such a name up: the
// gateway said it was ready, logged nothing, and failed every handshake
// for the name until an operator found and removed the files.
func TestACMEAnUnusableStoredCertificateIsSetAsideAndObtainedAgain(t *testing.T) {
	for _, tc := range []struct {
		name  string
		spoil func(t *testing.T, crt, key string)
	}{
		{"a truncated certificate", func(t *testing.T, crt, _ string) {
			data, err := os.ReadFile(crt)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, crt, string(data[:100])) // within the leaf
		}},
		{"a key that is not the certificate's", func(t *testing.T, _, key string) {
			k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			der, err := x509.MarshalECPrivateKey(k)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, key, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newACMEEnv(t)
			extra := "        challenge: http-01\n        profile: default\n"
			logs, stop := e.start(t, "store", extra, 0)
			waitLog(t, logs, "acme: certificate loaded", nil)
			first, err := e.served(e.client(t, true))
			if err != nil {
				t.Fatal(err)
			}
			stop()
			site, err := filepath.Glob(filepath.Join(e.dir, "store", "certificates", "*", acmeName))
			if err != nil || len(site) != 1 {
				t.Fatalf("the certificate's directory in storage: %v %v", site, err)
			}
			crt, key := filepath.Join(site[0], acmeName+".crt"), filepath.Join(site[0], acmeName+".key")
			tc.spoil(t, crt, key)

			logs, _ = e.start(t, "store", extra, 0)
			line := waitLog(t, logs, "acme: the stored certificate cannot be loaded; set aside (storage keys ending .unusable), a new one is obtained", map[string]any{"name": acmeName})
			t.Logf("logged: %v", line["error"])
			waitLog(t, logs, "acme: certificate obtained", map[string]any{"name": acmeName, "renewal": false})
			waitLog(t, logs, "acme: certificate loaded", nil)
			again, err := e.served(e.client(t, true))
			if err != nil {
				t.Fatal(err)
			}
			if again == first || e.pebble.Issued() != 2 {
				t.Errorf("served serial %s (first %s), %d certificates issued; want a new one, 2", again, first, e.pebble.Issued())
			}
			for _, f := range []string{crt, key} {
				if _, err := os.Stat(f + ".unusable"); err != nil {
					t.Errorf("the unusable file is not set aside: %v", err)
				}
			}
		})
	}
}
