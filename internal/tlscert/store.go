package tlscert

import (
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Pair names the files of one certificate: the certificate chain and its
// private key, both PEM.
type Pair struct {
	CertFile, KeyFile string
}

// Load reads the certificates of pairs, in order, and fails on the first
// that does not load.
func Load(pairs []Pair) ([]*tls.Certificate, error) {
	if len(pairs) == 0 {
		return nil, errors.New("no certificate")
	}
	certs := make([]*tls.Certificate, len(pairs))
	for i, p := range pairs {
		c, err := LoadPair(p)
		if err != nil {
			return nil, fmt.Errorf("certificate %s with key %s: %w", p.CertFile, p.KeyFile, err)
		}
		certs[i] = &c
	}
	return certs, nil
}

// Store serves the certificates of a list of pairs to crypto/tls through
// GetCertificate. The zero Store is not usable: make one with New. A Store
// is safe for concurrent use; GetCertificate takes no lock.
type Store struct {
	pairs []Pair
	certs atomic.Pointer[[]*tls.Certificate]

	mu    sync.Mutex // serialises Reload and guards stamp
	stamp string     // the hash of the files when last loaded or tried
}

// New loads the certificates of pairs. The first is the default, served to
// a client that names no host or a host no certificate covers.
func New(pairs []Pair) (*Store, error) {
	s := &Store{pairs: append([]Pair(nil), pairs...)}
	s.stamp = s.stat()
	certs, err := Load(s.pairs)
	if err != nil {
		return nil, err
	}
	s.certs.Store(&certs)
	return s, nil
}

// GetCertificate picks, for a handshake, the first certificate whose names
// cover the server name the client asked for (SNI), or else the first.
// It is the tls.Config.GetCertificate of a listener.
func (s *Store) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	certs := *s.certs.Load()
	if name := strings.TrimSuffix(hello.ServerName, "."); name != "" {
		for _, c := range certs {
			if c.Leaf != nil && c.Leaf.VerifyHostname(name) == nil {
				return c, nil
			}
		}
	}
	return certs[0], nil
}

// Expiry is when a certificate a Store serves stops being valid.
type Expiry struct {
	CertFile string
	NotAfter time.Time
}

// Expiries returns when each certificate the Store serves now expires, in
// the order of its pairs.
func (s *Store) Expiries() []Expiry {
	certs := *s.certs.Load()
	out := make([]Expiry, 0, len(certs))
	for i, c := range certs {
		if c.Leaf != nil {
			out = append(out, Expiry{CertFile: s.pairs[i].CertFile, NotAfter: c.Leaf.NotAfter})
		}
	}
	return out
}

// Reload reads every file again and, if all load and none has expired,
// serves the new certificates. On an error the certificates already loaded
// keep serving.
func (s *Store) Reload() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stamp = s.stat()
	return s.load()
}

func (s *Store) load() error {
	certs, err := Load(s.pairs)
	if err != nil {
		return err
	}
	if err := expired(s.pairs, certs, time.Now()); err != nil {
		return err
	}
	s.certs.Store(&certs)
	return nil
}

// expired returns an error naming the first certificate of certs (loaded
// from pairs) that is no longer valid at now. A reload refuses it: served,
// it would fail every client's handshake, while the pair held may still
// verify (an old file copied back, a renewal tool writing what it had
// cached). A certificate not yet valid is taken: a fresh one may start a
// clock-skew's width ahead, and files refused are not tried again until
// they change.
func expired(pairs []Pair, certs []*tls.Certificate, now time.Time) error {
	for i, c := range certs {
		if c.Leaf != nil && now.After(c.Leaf.NotAfter) {
			return fmt.Errorf("certificate %s: expired at %s", pairs[i].CertFile, c.Leaf.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	return nil
}

// ReloadIfChanged reloads when the content of a file has changed since the last load or attempt, and reports whether it tried.
// A set of files that failed is not tried again until it changes again.
func (s *Store) ReloadIfChanged() (tried bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	stamp := s.stat()
	if stamp == s.stamp {
		return false, nil
	}
	s.stamp = stamp
	return true, s.load()
}

// Watch calls ReloadIfChanged every interval until stop is closed, and
// report after each attempt (err nil: the new certificates are serving).
func (s *Store) Watch(interval time.Duration, stop <-chan struct{}, report func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			if tried, err := s.ReloadIfChanged(); tried {
				report(err)
			}
		}
	}
}

// stat describes the files by a hash of their contents, following
// symbolic links; a file that cannot be read is described as such. A hash
// rather than size and modification time: a certificate renewed within the
// file system's time granularity, at the same size, is still seen.
func (s *Store) stat() string {
	h := sha256.New()
	for _, p := range s.pairs {
		for _, name := range []string{p.CertFile, p.KeyFile} {
			data, err := ReadFile(name, MaxFileBytes)
			if err != nil {
				fmt.Fprintf(h, "%s: unreadable\n", name)
				continue
			}
			fmt.Fprintf(h, "%s: %d\n", name, len(data))
			h.Write(data)
		}
	}
	return string(h.Sum(nil))
}
