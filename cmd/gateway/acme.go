package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/caddyserver/certmagic"
	"github.com/mholt/acmez/v3"
	"go.uber.org/zap"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/internal/tlscert"
)

// Automatic certificates (ACME) are obtained, stored, renewed and served
// by certmagic, the library Caddy is built on: it keeps accounts, keys and
// certificates on disk with locks, renews in the background (following the
// CA's ACME Renewal Information when it has some, else a part of the
// lifetime), staples OCSP, solves http-01 and tls-alpn-01, and retries
// with back-off. x/crypto/acme/autocert was the other candidate: smaller,
// but it renews at a fixed time before expiry only, has neither ARI nor
// profiles, and leaves retries, locking and OCSP to the program.

// acmeSite is the ACME state of one TLS listener: the names it obtains and
// the certmagic configuration that obtains and serves them. magic is set
// by startACME before the listener serves.
type acmeSite struct {
	cfg   *config.ACME
	names map[string]bool
	magic *certmagic.Config
	// addr is where the listener is bound, filled in by startACME.
	addr net.Addr
}

func newACMESite(a *config.ACME) *acmeSite {
	s := &acmeSite{cfg: a, names: make(map[string]bool, len(a.Domains))}
	for _, d := range a.Domains {
		s.names[d] = true
	}
	return s
}

// getCertificate picks the certificate of a handshake on a listener with
// acme and, if static is not nil, static certificates: a name the listener
// obtains, and every tls-alpn-01 challenge, go to certmagic; any other
// name to the static certificates (the default among them when none
// covers it). A listener with acme only serves its first domain's
// certificate to a client that asks for another name or none.
func (s *acmeSite) getCertificate(static *tlscert.Store) func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		name := strings.ToLower(strings.TrimSuffix(hello.ServerName, "."))
		if static == nil || s.names[name] || isACMEChallenge(hello) {
			return s.magic.GetCertificate(hello)
		}
		return static.GetCertificate(hello)
	}
}

// isACMEChallenge reports whether hello is a tls-alpn-01 validation: it
// offers acme-tls/1 and nothing else (RFC 8737 section 3), the test
// certmagic applies before it serves a challenge certificate. A client
// offering acme-tls/1 among other protocols is no CA: sent to certmagic
// for a name of the static certificates, it got the acme domain's
// certificate, or a failed handshake.
func isACMEChallenge(hello *tls.ClientHelloInfo) bool {
	return len(hello.SupportedProtos) == 1 && hello.SupportedProtos[0] == acmez.ACMETLS1Protocol
}

// acmeManager holds the certificate cache every acme listener shares and
// stops its maintenance at shutdown.
type acmeManager struct {
	sites  []*acmeSite
	cache  *certmagic.Cache
	cancel context.CancelFunc
}

// startACME sets up certmagic for the acme listeners among ls (the route
// listeners, in the order of the configuration, bound), loads the
// certificates already stored, and starts obtaining the missing ones in
// the background, so that a CA that is down does not keep the gateway from
// serving. It must run before the listeners serve.
func (g *gateway) startACME(ls []*listening) error {
	var sites []*acmeSite
	var cleartext net.Addr
	for _, l := range ls {
		switch {
		case l.acme != nil:
			l.acme.addr = l.ln.Addr()
			sites = append(sites, l.acme)
		case !l.tls && cleartext == nil:
			cleartext = l.ln.Addr()
		}
	}
	if len(sites) == 0 {
		return nil
	}
	for _, s := range sites {
		// A storage the gateway cannot write is a setup error, seen at
		// start rather than when the first certificate is to be saved.
		if err := os.MkdirAll(s.cfg.Storage, 0o700); err != nil {
			return fmt.Errorf("tls.acme.storage: %w", err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &acmeManager{sites: sites, cancel: cancel}
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert: func(c certmagic.Certificate) (*certmagic.Config, error) {
			for _, s := range sites {
				for _, n := range c.Names {
					if s.names[n] {
						return s.magic, nil
					}
				}
			}
			return sites[0].magic, nil
		},
		RenewCheckInterval: g.acmeRenewCheck,
		Logger:             certmagicLogger(g.logger),
	})
	for _, s := range sites {
		s.magic = g.certmagicConfig(m.cache, s, cleartext)
	}
	g.acme = m
	for _, s := range sites {
		// A name whose stored certificate cannot be loaded would be
		// given up by ManageAsync (acmestored.go).
		var names []string
		for _, d := range s.cfg.Domains {
			if storedUnusable(ctx, s.magic, d) != nil {
				go g.replaceUnusable(ctx, s.magic, d)
				continue
			}
			names = append(names, d)
		}
		if err := s.magic.ManageAsync(ctx, names); err != nil {
			g.stopACME()
			return err
		}
	}
	return nil
}

// certmagicConfig builds the certmagic configuration of one acme listener.
// certmagic opens a port of its own to answer a challenge unless the port
// the CA dials is taken; it is told the address of the gateway's own
// listener, which is, so that the gateway answers every challenge itself.
func (g *gateway) certmagicConfig(cache *certmagic.Cache, s *acmeSite, cleartext net.Addr) *certmagic.Config {
	a := s.cfg
	magic := certmagic.New(cache, certmagic.Config{
		RenewalWindowRatio: a.RenewalWindowRatio,
		Storage:            &certmagic.FileStorage{Path: a.Storage},
		OnEvent:            g.acmeEvent,
		Logger:             certmagicLogger(g.logger),
	})
	if len(s.cfg.Domains) > 0 {
		magic.DefaultServerName = a.Domains[0]
		magic.FallbackServerName = a.Domains[0]
	}
	issuer := certmagic.ACMEIssuer{
		CA:           a.Directory,
		Email:        a.Email,
		Agreed:       true,
		Profile:      a.Profile,
		TrustedRoots: a.Roots(),
		Logger:       zap.NewNop(),
	}
	bound := s.addr
	if a.Challenge == config.ChallengeHTTP {
		issuer.DisableTLSALPNChallenge = true
		bound = cleartext
	} else {
		issuer.DisableHTTPChallenge = true
	}
	host, port := splitAddr(bound)
	issuer.ListenHost = host
	if a.Challenge == config.ChallengeHTTP {
		issuer.AltHTTPPort = port
	} else {
		issuer.AltTLSALPNPort = port
	}
	magic.Issuers = []certmagic.Issuer{certmagic.NewACMEIssuer(magic, issuer)}
	return magic
}

func splitAddr(a net.Addr) (string, int) {
	if a == nil {
		return "", 0
	}
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "", 0
	}
	p, _ := strconv.Atoi(port)
	return host, p
}

// acmeEvent logs what certmagic does with the certificates.
func (g *gateway) acmeEvent(_ context.Context, event string, data map[string]any) error {
	attrs := []any{slog.Any("name", data["identifier"])}
	if r, ok := data["renewal"].(bool); ok {
		attrs = append(attrs, slog.Bool("renewal", r))
	}
	switch event {
	case "cert_obtaining":
		g.logger.Info("acme: obtaining a certificate", attrs...)
	case "cert_obtained":
		g.logger.Info("acme: certificate obtained", attrs...)
	case "cert_failed":
		if err, ok := data["error"].(error); ok {
			attrs = append(attrs, slog.String("error", err.Error()))
		}
		g.logger.Error("acme: obtaining a certificate failed; certmagic retries with back-off", attrs...)
	case "cached_managed_cert":
		// From storage at start, or once obtained: handshakes get it
		// from now on. (A renewed certificate replaces its predecessor
		// without this event.)
		g.logger.Info("acme: certificate loaded", slog.Any("names", data["sans"]))
	}
	return nil
}

// acmeChallenge answers r if it is an ACME http-01 challenge for the names
// of an acme listener that uses them, and reports whether it did. It runs
// on every route listener (the CA asks a cleartext one), inside the access
// log and metrics but ahead of route matching and of redirect_https
// (gateway.reserved). Other requests, /.well-known/acme-challenge/ ones
// without a challenge under way among them, are left to the caller.
func (g *gateway) acmeChallenge(w http.ResponseWriter, r *http.Request) bool {
	m := g.acme
	if m == nil || !strings.HasPrefix(r.URL.Path, acmeChallengePath) {
		return false
	}
	for _, s := range m.sites {
		if s.cfg.Challenge != config.ChallengeHTTP {
			continue
		}
		for _, iss := range s.magic.Issuers {
			if ai, ok := iss.(*certmagic.ACMEIssuer); ok && ai.HandleHTTPChallenge(w, r) {
				return true
			}
		}
	}
	return false
}

// acmeChallengePath is where http-01 challenges are asked (RFC 8555 8.3).
const acmeChallengePath = "/.well-known/acme-challenge/"

// stopACME stops obtaining and renewing certificates.
func (g *gateway) stopACME() {
	if m := g.acme; m != nil {
		m.cancel()
		m.cache.Stop()
	}
}
