package main

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/internal/logsample"
	"github.com/sluicehq/sluice/internal/tlscert"
	"github.com/sluicehq/sluice/router"
	"github.com/sluicehq/sluice/upstream"
)

// backendTLS holds the handshake settings of the services the gateway
// reaches over TLS (services.<name>.tls), made once at start as every
// services setting is (a reload that changes them asks for a restart).
// Each service's *tls.Config is the one the upstream client, and the
// health checks, handshake with; the client certificates are read again
// when their files change on disk, or on SIGHUP, as a listener's are.
type backendTLS struct {
	configs map[string]*tls.Config // by service
	certs   []*backendCert
}

// backendCert is the client certificate of one or more services.
type backendCert struct {
	pair  tlscert.Pair
	store *tlscert.Store
}

// newBackendTLS loads the client certificates of cfg's services with tls.
func newBackendTLS(cfg *config.Config) (*backendTLS, error) {
	b := &backendTLS{configs: make(map[string]*tls.Config)}
	byPair := make(map[tlscert.Pair]*backendCert)
	for name, svc := range cfg.Services {
		if svc.TLS == nil {
			continue
		}
		c := svc.TLS.ClientConfig(name)
		if pair, ok := svc.TLS.Pair(); ok {
			bc := byPair[pair]
			if bc == nil {
				store, err := tlscert.New([]tlscert.Pair{pair})
				if err != nil {
					return nil, fmt.Errorf("services.%s.tls: %w", name, err)
				}
				bc = &backendCert{pair: pair, store: store}
				byPair[pair] = bc
				b.certs = append(b.certs, bc)
			}
			c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
				return bc.store.GetCertificate(&tls.ClientHelloInfo{})
			}
		}
		b.configs[name] = c
	}
	return b, nil
}

// options returns more, with the upstream client's option of each
// service reached over TLS.
func (b *backendTLS) options(more ...upstream.Option) []upstream.Option {
	for name, c := range b.configs {
		more = append(more, upstream.WithServiceTLS(name, c))
	}
	return more
}

// watch polls the client certificates' files every interval until stop is
// closed, taking the changed ones that load and logging those that do not.
func (b *backendTLS) watch(logger *slog.Logger, interval time.Duration, stop <-chan struct{}) {
	for _, bc := range b.certs {
		go bc.store.Watch(interval, stop, func(err error) { logBackendCert(logger, bc.pair, "files changed", err) })
	}
}

// reload reads every client certificate's files again, on SIGHUP.
func (b *backendTLS) reload(logger *slog.Logger) {
	for _, bc := range b.certs {
		logBackendCert(logger, bc.pair, "reload signal", bc.store.Reload())
	}
}

func logBackendCert(logger *slog.Logger, p tlscert.Pair, why string, err error) {
	attrs := []any{slog.String("cert_file", p.CertFile), slog.String("trigger", why)}
	if err != nil {
		logger.Error("backend client certificate reload failed; the certificate already loaded keeps being sent",
			append(attrs, slog.String("error", err.Error()))...)
		return
	}
	logger.Info("backend client certificate reloaded", attrs...)
}

// tlsFailures returns what the transport tells of a TLS handshake with a
// node that failed by the node's doing: counted, and logged (at most
// router.LogLinesPerSecond lines a second a node), since the request went
// to another node and a node whose certificate expired or was replaced
// by another authority's would otherwise show only in the attempts
// counted not_sent.
func tlsFailures(reg prometheus.Registerer, logger *slog.Logger) func(node string, err error) {
	failures := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "sluice_upstream_tls_handshake_failures_total",
		Help: "TLS handshakes with nodes that failed by the node's doing (a certificate that does not verify or refused, no TLS, too slow); each request went to another node.",
	})
	reg.MustRegister(failures)
	lines := logsample.New(router.LogLinesPerSecond, time.Second, nil)
	return func(node string, err error) {
		failures.Inc()
		ok, dropped := lines.Allow(node)
		if !ok {
			return
		}
		attrs := []any{slog.String("node", node), slog.String("error", err.Error())}
		if dropped > 0 {
			attrs = append(attrs, slog.Int("suppressed", dropped))
		}
		logger.Warn("TLS handshake with a node failed; its request goes to another node", attrs...)
	}
}
