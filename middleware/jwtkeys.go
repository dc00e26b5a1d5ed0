package middleware

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// Key sizes NewJWTVerifier accepts.
const (
	MinHMACSecretBytes = 32   // RFC 7518 §3.2: at least the hash's size; 32 for HS256
	MinRSABits         = 2048 // RFC 7518 §3.3
	// MaxRSABits bounds what one signature check can cost: crypto/rsa has
	// no bound, and its time grows as the square of the modulus, so that a
	// JWKS endpoint publishing a key of a million bits (well within its
	// 1 MiB document) would make each token of its kid cost 16 s of CPU.
	// At 8192 bits a check costs 1.3 ms on a 2-core machine of this
	// project's, 3.1 ms with the largest exponent crypto/rsa takes (2³¹-1).
	MaxRSABits = 8192
)

// JWTAlgorithms lists the signature algorithms a JWTVerifier can be allowed
// to accept. "none" is not one of them and never will be.
var JWTAlgorithms = []string{
	"HS256", "HS384", "HS512",
	"RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
	"ES256", "ES384", "ES512", "EdDSA",
}

// ParsePublicKeyPEM returns the public key in a PEM block: "PUBLIC KEY"
// (PKIX: RSA, ECDSA or Ed25519), "RSA PUBLIC KEY" (PKCS #1) or
// "CERTIFICATE" (the certificate's key). The first PEM block is used.
func ParsePublicKeyPEM(data []byte) (any, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	switch block.Type {
	case "PUBLIC KEY":
		return x509.ParsePKIXPublicKey(block.Bytes)
	case "RSA PUBLIC KEY":
		return x509.ParsePKCS1PublicKey(block.Bytes)
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		return cert.PublicKey, nil
	case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
		return nil, fmt.Errorf("a %s block: give the gateway the public key only", block.Type)
	}
	return nil, fmt.Errorf("unsupported PEM block %q: want PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE", block.Type)
}

// keyAlgorithms returns the algorithms that can verify with key, or an
// error when the key is of no supported kind or too weak. A key's type, not
// a token's header, decides which algorithms may use it: an RSA public key
// is never taken as an HMAC secret.
func keyAlgorithms(key any) ([]string, error) {
	switch k := key.(type) {
	case []byte:
		if len(k) < MinHMACSecretBytes {
			return nil, fmt.Errorf("HMAC secret of %d bytes: it needs at least %d", len(k), MinHMACSecretBytes)
		}
		algs := []string{"HS256"}
		if len(k) >= 48 {
			algs = append(algs, "HS384")
		}
		if len(k) >= 64 {
			algs = append(algs, "HS512")
		}
		return algs, nil
	case *rsa.PublicKey:
		if k.N.BitLen() < MinRSABits {
			return nil, fmt.Errorf("RSA key of %d bits: it needs at least %d", k.N.BitLen(), MinRSABits)
		}
		if k.N.BitLen() > MaxRSABits {
			return nil, fmt.Errorf("RSA key of %d bits: at most %d are taken", k.N.BitLen(), MaxRSABits)
		}
		return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return []string{"ES256"}, nil
		case elliptic.P384():
			return []string{"ES384"}, nil
		case elliptic.P521():
			return []string{"ES512"}, nil
		}
		return nil, fmt.Errorf("ECDSA key on an unsupported curve %s", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return []string{"EdDSA"}, nil
	}
	return nil, fmt.Errorf("unsupported key type %T", key)
}

// keyKind names a key's kind for error messages.
func keyKind(key any) string {
	switch key.(type) {
	case []byte:
		return "an HMAC secret"
	case *rsa.PublicKey:
		return "an RSA key"
	case *ecdsa.PublicKey:
		return "an ECDSA key"
	case ed25519.PublicKey:
		return "an Ed25519 key"
	}
	return fmt.Sprintf("a %T", key)
}
