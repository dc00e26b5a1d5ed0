package middleware

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
)

// A JWK Set (RFC 7517) carries the public keys an issuer signs tokens with.
// Only what verification needs is read, and a key is taken only when it is
// plainly meant for it: "use" absent or "sig", "key_ops" absent or holding
// "verify", a key type and curve the verifier knows (RSA of MinRSABits to
// MaxRSABits, EC P-256/P-384/P-521, OKP Ed25519), and an "alg", when present,
// that the key's type can verify (the key is then held to that algorithm).
// Symmetric keys ("kty": "oct") are never taken: a secret published at a URL
// would let anyone who can read it sign tokens, and an HMAC key in a JWKS is
// the other half of the algorithm-confusion attacks.

type jwk struct {
	Kty    string   `json:"kty"`
	Kid    string   `json:"kid"`
	Use    string   `json:"use"`
	KeyOps []string `json:"key_ops"`
	Alg    string   `json:"alg"`
	N      string   `json:"n"`
	E      string   `json:"e"`
	Crv    string   `json:"crv"`
	X      string   `json:"x"`
	Y      string   `json:"y"`
}

// parseJWKSet returns the verification keys of a JWK Set document, and how
// many of its keys were left out (not for signatures, of an unknown or
// refused type, malformed). A document that is not a JWK Set is an error;
// so is one with no key to keep.
func parseJWKSet(data []byte) (keys []JWTKey, skipped int, err error) {
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, 0, fmt.Errorf("not a JWK Set: %w", err)
	}
	if doc.Keys == nil {
		return nil, 0, errors.New(`not a JWK Set: no "keys" member`)
	}
	for _, raw := range doc.Keys {
		var k jwk
		if json.Unmarshal(raw, &k) != nil {
			skipped++
			continue
		}
		key, err := k.publicKey()
		if err != nil {
			skipped++
			continue
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return nil, skipped, fmt.Errorf("no usable signature key among %d", len(doc.Keys))
	}
	return keys, skipped, nil
}

// publicKey returns the key k describes, if it is one to verify signatures
// with.
func (k *jwk) publicKey() (JWTKey, error) {
	if k.Use != "" && k.Use != "sig" {
		return JWTKey{}, fmt.Errorf("use %q", k.Use)
	}
	if k.KeyOps != nil && !slices.Contains(k.KeyOps, "verify") {
		return JWTKey{}, errors.New("key_ops without verify")
	}
	var key any
	var err error
	switch k.Kty {
	case "RSA":
		key, err = k.rsa()
	case "EC":
		key, err = k.ec()
	case "OKP":
		if k.Crv != "Ed25519" {
			return JWTKey{}, fmt.Errorf("OKP curve %q", k.Crv)
		}
		var x []byte
		if x, err = b64(k.X); err == nil && len(x) != ed25519.PublicKeySize {
			err = fmt.Errorf("Ed25519 key of %d bytes", len(x))
		}
		key = ed25519.PublicKey(x)
	default:
		return JWTKey{}, fmt.Errorf("key type %q", k.Kty) // "oct" included: never from a URL
	}
	if err != nil {
		return JWTKey{}, err
	}
	out := JWTKey{ID: k.Kid, Key: key, Algorithm: k.Alg}
	algs, err := keyAlgorithms(key) // also refuses weak RSA keys
	if err != nil {
		return JWTKey{}, err
	}
	if k.Alg != "" && !slices.Contains(algs, k.Alg) {
		return JWTKey{}, fmt.Errorf("alg %q for %s", k.Alg, keyKind(key))
	}
	return out, nil
}

func (k *jwk) rsa() (*rsa.PublicKey, error) {
	n, err := b64(k.N)
	if err != nil || len(n) == 0 {
		return nil, errors.New("bad n")
	}
	e, err := b64(k.E)
	if err != nil || len(e) == 0 || len(e) > 4 {
		return nil, errors.New("bad e")
	}
	// crypto/rsa refuses an even modulus and an exponent above 2³¹-1 at
	// every verification: such a key is malformed, not one to keep.
	exp := int(new(big.Int).SetBytes(e).Int64())
	if exp < 3 || exp%2 == 0 || exp > 1<<31-1 {
		return nil, errors.New("bad e")
	}
	if n[len(n)-1]%2 == 0 {
		return nil, errors.New("bad n: even")
	}
	return &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: exp}, nil
}

func (k *jwk) ec() (*ecdsa.PublicKey, error) {
	var curve elliptic.Curve
	switch k.Crv {
	case "P-256":
		curve = elliptic.P256()
	case "P-384":
		curve = elliptic.P384()
	case "P-521":
		curve = elliptic.P521()
	default:
		return nil, fmt.Errorf("EC curve %q", k.Crv)
	}
	size := (curve.Params().BitSize + 7) / 8
	x, errX := b64(k.X)
	y, errY := b64(k.Y)
	if errX != nil || errY != nil || len(x) != size || len(y) != size {
		return nil, errors.New("bad x or y")
	}
	// The uncompressed point form: the parser checks it is on the curve.
	point := append(append([]byte{4}, x...), y...)
	return ecdsa.ParseUncompressedPublicKey(curve, point)
}

// b64 decodes base64url without padding (RFC 7515 §2), tolerating padding.
func b64(s string) ([]byte, error) {
	if n := len(s); n > 0 && s[n-1] == '=' {
		return base64.URLEncoding.DecodeString(s)
	}
	return base64.RawURLEncoding.DecodeString(s)
}
