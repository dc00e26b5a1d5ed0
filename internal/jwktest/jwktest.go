// Package jwktest serves JWK Sets for tests: a loopback JWKS endpoint whose
// keys a test publishes, retires and breaks at will, counting the fetches
// it answers, so that tests of key rotation and of a failing identity
// provider run against a real HTTP server instead of a fake fetcher.
package jwktest

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
)

// Key returns the JWK (RFC 7517) of a public key, with kid and alg when
// not empty and "use": "sig". pub is an *rsa.PublicKey, an *ecdsa.PublicKey
// or an ed25519.PublicKey; a []byte gives an "oct" key (which verifiers
// must never take from a JWKS).
func Key(pub any, kid, alg string) map[string]any {
	enc := base64.RawURLEncoding.EncodeToString
	k := map[string]any{"use": "sig"}
	switch p := pub.(type) {
	case *rsa.PublicKey:
		k["kty"], k["n"], k["e"] = "RSA", enc(p.N.Bytes()), enc(big.NewInt(int64(p.E)).Bytes())
	case *ecdsa.PublicKey:
		b, err := p.Bytes()
		if err != nil {
			panic(err)
		}
		size := (len(b) - 1) / 2
		k["kty"], k["crv"], k["x"], k["y"] = "EC", p.Curve.Params().Name, enc(b[1:1+size]), enc(b[1+size:])
	case ed25519.PublicKey:
		k["kty"], k["crv"], k["x"] = "OKP", "Ed25519", enc(p)
	case []byte:
		k["kty"], k["k"] = "oct", enc(p)
	default:
		panic(fmt.Sprintf("jwktest: unsupported key %T", pub))
	}
	if kid != "" {
		k["kid"] = kid
	}
	if alg != "" {
		k["alg"] = alg
	}
	return k
}

// Set returns the JSON of a JWK Set holding keys.
func Set(keys ...map[string]any) []byte {
	if keys == nil {
		keys = []map[string]any{}
	}
	b, err := json.Marshal(map[string]any{"keys": keys})
	if err != nil {
		panic(err)
	}
	return b
}

// Server is a JWKS endpoint on loopback, closed when its test ends. It is
// safe for concurrent use.
type Server struct {
	// URL is the JWK Set's address (http://127.0.0.1:port/jwks).
	URL string

	mu     sync.Mutex
	doc    []byte
	status int
	hold   chan struct{} // when not nil, answers wait for it to close

	fetches atomic.Int64
	arrived chan struct{} // one value per request, dropped when full
}

// NewServer starts a server publishing no key (an empty set) until
// Publish is called.
func NewServer(t testing.TB) *Server {
	s := &Server{doc: Set(), status: http.StatusOK, arrived: make(chan struct{}, 1<<16)}
	srv := httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(srv.Close)
	s.URL = srv.URL + "/jwks"
	return s
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.fetches.Add(1)
	select {
	case s.arrived <- struct{}{}:
	default:
	}
	s.mu.Lock()
	hold, doc, status := s.hold, s.doc, s.status
	s.mu.Unlock()
	if hold != nil {
		select {
		case <-hold:
		case <-r.Context().Done():
			return
		}
	}
	w.Header().Set("Content-Type", "application/jwk-set+json")
	w.WriteHeader(status)
	_, _ = w.Write(doc)
}

// Publish makes keys the set served, with status 200.
func (s *Server) Publish(keys ...map[string]any) { s.Serve(http.StatusOK, Set(keys...)) }

// Serve makes every answer status with body doc.
func (s *Server) Serve(status int, doc []byte) {
	s.mu.Lock()
	s.status, s.doc = status, doc
	s.mu.Unlock()
}

// Hold makes answers wait until release is called (requests still count
// and arrive as they come).
func (s *Server) Hold() (release func()) {
	ch := make(chan struct{})
	s.mu.Lock()
	s.hold = ch
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			s.hold = nil
			s.mu.Unlock()
			close(ch)
		})
	}
}

// Fetches returns the number of requests the server received.
func (s *Server) Fetches() int64 { return s.fetches.Load() }

// Arrived receives a value for each request, as it arrives.
func (s *Server) Arrived() <-chan struct{} { return s.arrived }
