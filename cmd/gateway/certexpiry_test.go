package main

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// certExpiries returns the samples of sluice_certificate_expiry_timestamp_seconds
// in reg, by "use file".
func certExpiries(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]float64)
	for _, mf := range mfs {
		if mf.GetName() != "sluice_certificate_expiry_timestamp_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			out[labels["use"]+" "+labels["file"]] = m.GetGauge().GetValue()
		}
	}
	return out
}

// TestCertificateExpiriesAreExported: the expiry of every certificate a
// TLS listener serves from files is a sample, the one it serves now: a
// certificate renewed on disk and reloaded moves it.
func TestCertificateExpiriesAreExported(t *testing.T) {
	dir := t.TempDir()
	ca, site := siteCerts(t, dir)
	tg := startServing(t, dir, "  - {address: 127.0.0.1:0, tls: {cert_file: site.crt, key_file: site.key}}\n", budgetBackend(t), time.Hour)
	sample := "listener " + filepath.Join(dir, "site.crt")
	if got := certExpiries(t, tg.g.promReg)[sample]; got != float64(site.Cert.NotAfter.Unix()) {
		t.Errorf("%s: %v, want %d", sample, got, site.Cert.NotAfter.Unix())
	}
	renewed := ca.ServerUntil(t, site.Cert.NotAfter.Add(-12*time.Hour), "127.0.0.1") // another expiry
	renewed.Write(t, dir, "site")
	tg.reload <- syscall.SIGHUP
	tg.logs.waitFor(t, "certificates reloaded", 1)
	if got := certExpiries(t, tg.g.promReg)[sample]; got != float64(renewed.Cert.NotAfter.Unix()) {
		t.Errorf("after the renewal: %v, want %d", got, renewed.Cert.NotAfter.Unix())
	}
}
