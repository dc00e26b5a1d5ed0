package main

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/internal/tlscert"
)

// certExpiry exports when each certificate the gateway holds from files
// expires: its TLS listeners' and the client certificates it shows the
// nodes of services reached over TLS. Files are followed and a renewed
// certificate is taken without a restart, but nothing renews them: one
// left to expire fails every client's handshake (a listener's) or every
// node's (a client certificate), all at once. An alert on this metric
// says so weeks before. ACME certificates are renewed by the gateway
// itself and are not among them.
type certExpiry struct {
	desc   *prometheus.Desc
	mu     sync.Mutex
	stores []usedStore
}

// usedStore is a certificate store and what its certificates are for.
type usedStore struct {
	use   string // "listener" or "backend_client"
	store *tlscert.Store
}

func newCertExpiry(reg prometheus.Registerer) *certExpiry {
	c := &certExpiry{desc: prometheus.NewDesc("sluice_certificate_expiry_timestamp_seconds",
		"When a certificate the gateway serves from files expires (Unix time), by use (listener, backend_client) and certificate file.",
		[]string{"use", "file"}, nil)}
	reg.MustRegister(c)
	return c
}

// add exports the certificates of store, for use.
func (c *certExpiry) add(use string, store *tlscert.Store) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.stores = append(c.stores, usedStore{use, store})
}

// Describe implements prometheus.Collector.
func (c *certExpiry) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

// Collect implements prometheus.Collector: the certificates served now,
// those a reload took included.
func (c *certExpiry) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	stores := append([]usedStore(nil), c.stores...)
	c.mu.Unlock()
	seen := make(map[[2]string]bool)
	for _, s := range stores {
		for _, e := range s.store.Expiries() {
			key := [2]string{s.use, e.CertFile}
			if seen[key] { // one file served by two listeners
				continue
			}
			seen[key] = true
			ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(e.NotAfter.Unix()), s.use, e.CertFile)
		}
	}
}
