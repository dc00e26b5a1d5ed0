package middleware

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/internal/jwktest"
)

// fuzzJWKs are fixed public keys for the seeds: a fuzzed input must mean
// the same in every run. The RSA modulus is not a product of two primes,
// which nothing here can tell: it is odd and of 2048 bits, all crypto/rsa
// asks of a public key.
var fuzzJWKs = func() (k struct {
	rsa              *rsa.PublicKey
	p256, p384, p521 *ecdsa.PublicKey
	ed               ed25519.PublicKey
}) {
	stream := func(label string, n int) []byte {
		var b []byte
		for i := 0; len(b) < n; i++ {
			s := sha256.Sum256([]byte(label + string(rune('a'+i))))
			b = append(b, s[:]...)
		}
		return b[:n]
	}
	n := stream("rsa", 256)
	n[0] |= 0x80
	n[255] |= 1
	k.rsa = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: 65537}
	for _, c := range []struct {
		curve elliptic.Curve
		pub   **ecdsa.PublicKey
	}{{elliptic.P256(), &k.p256}, {elliptic.P384(), &k.p384}, {elliptic.P521(), &k.p521}} {
		d := stream(c.curve.Params().Name, (c.curve.Params().BitSize+7)/8)
		d[0] = 1 // below the order of each curve
		priv, err := ecdsa.ParseRawPrivateKey(c.curve, d)
		if err != nil {
			panic(err)
		}
		*c.pub = &priv.PublicKey
	}
	k.ed = ed25519.NewKeyFromSeed(stream("ed", ed25519.SeedSize)).Public().(ed25519.PublicKey)
	return k
}()

// checkJWKSet holds parseJWKSet's result on data to its promises: an error
// exactly when no key is kept, every key counted as kept or skipped, and
// every key kept a public key crypto/* would verify with (see
// checkVerificationKey), of at least MinRSABits for RSA, with an alg its
// type can verify.
func checkJWKSet(t *testing.T, data []byte) []JWTKey {
	t.Helper()
	keys, skipped, err := parseJWKSet(data)
	if (err == nil) != (len(keys) > 0) {
		t.Fatalf("%d keys and error %v", len(keys), err)
	}
	if err != nil {
		return nil
	}
	var doc struct{ Keys []json.RawMessage }
	if json.Unmarshal(data, &doc) != nil || len(keys)+skipped != len(doc.Keys) {
		t.Fatalf("%d keys kept and %d skipped of %d", len(keys), skipped, len(doc.Keys))
	}
	for _, k := range keys {
		checkVerificationKey(t, k.Key)
		algs, err := keyAlgorithms(k.Key)
		if err != nil {
			t.Fatalf("key %T kept: %v", k.Key, err)
		}
		if k.Algorithm != "" && !slices.Contains(algs, k.Algorithm) {
			t.Fatalf("key %T kept for alg %q", k.Key, k.Algorithm)
		}
	}
	return keys
}

// checkVerificationKey fails unless key is a public key that crypto/*
// takes for one: an RSA key whose modulus is odd, of MinRSABits to MaxRSABits,
// with an odd exponent from 3 to 2³¹-1 (crypto/rsa refuses any other
// outright, so a key that is not one verifies nothing, which is a bad set
// taken for a good one), checked by a verification that must fail as a
// bad signature does and not otherwise; an EC point on P-256, P-384 or
// P-521 (crypto/ecdh's check); an Ed25519 key of 32 bytes. crypto/ed25519
// has no exported check that 32 bytes encode a point; one that does not
// fails every verification (ed25519.Verify returns false), as a bad
// signature does, and x509 takes any 32 bytes too: that is left unchecked.
func checkVerificationKey(t *testing.T, key any) {
	t.Helper()
	switch k := key.(type) {
	case *rsa.PublicKey:
		if k == nil || k.N == nil || k.N.Bit(0) == 0 || k.N.BitLen() < MinRSABits || k.N.BitLen() > MaxRSABits || k.E < 3 || k.E%2 == 0 || k.E > 1<<31-1 {
			t.Fatalf("RSA key kept: %d bits, modulus odd %v, e %d", k.N.BitLen(), k.N.Bit(0) == 1, k.E)
		}
		digest := make([]byte, sha256.Size)
		if err := rsa.VerifyPKCS1v15(k, crypto.SHA256, digest, make([]byte, k.Size())); !errors.Is(err, rsa.ErrVerification) {
			t.Fatalf("RSA key kept that crypto/rsa refuses: %v", err)
		}
	case *ecdsa.PublicKey:
		if k == nil || k.Curve != elliptic.P256() && k.Curve != elliptic.P384() && k.Curve != elliptic.P521() {
			t.Fatalf("EC key kept on %v", k)
		}
		if _, err := k.ECDH(); err != nil {
			t.Fatalf("EC key kept off its curve: %v", err)
		}
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			t.Fatalf("Ed25519 key of %d bytes kept", len(k))
		}
	default:
		t.Fatalf("key %T kept", key)
	}
}

// FuzzParseJWKSet: for any document, parseJWKSet never panics and every
// key it keeps passes checkJWKSet. The JWKS endpoint is remote, reached over
// the network, and may be broken or hostile: a parser that panics takes the
// gateway's key refresh down with it, and one that keeps a key crypto/rsa
// or crypto/ecdsa refuses (or a weak RSA key) accepts a set that verifies
// nothing in place of the good set it had.
func FuzzParseJWKSet(f *testing.F) {
	k := fuzzJWKs
	f.Add(jwktest.Set(jwktest.Key(k.rsa, "r", "RS256"), jwktest.Key(k.p256, "e", "ES256"),
		jwktest.Key(k.p384, "", ""), jwktest.Key(k.p521, "e5", "ES512"), jwktest.Key(k.ed, "d", "EdDSA")))
	f.Add(jwktest.Set(jwktest.Key(k.rsa, "", "PS384"), jwktest.Key([]byte(strings.Repeat("k", 32)), "h", "HS256")))
	f.Add([]byte(`{"keys":[{"kty":"EC","crv":"P-256","kid":"b","x":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA","y":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAE"}]}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","n":"AQAB","e":"AQAB"},{"kty":"OKP","crv":"X25519","x":"AAAA"},null,7,{"use":"enc"}]}`))
	f.Add([]byte(`{"keys":null}`))
	f.Add([]byte(`{"keys":[{"kty":"RSA","key_ops":["sign"],"e":"AQAB=","n":"` + base64.URLEncoding.EncodeToString(k.rsa.N.Bytes()) + `"}]}`))
	f.Add([]byte(`<html>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		checkJWKSet(t, data)
	})
}

// FuzzJWK: a JWK Set of one key, built from fuzzed members (n, e, x and y
// as bytes, base64url-encoded here, so that the fuzzer works on the
// numbers rather than on their encoding), passes checkJWKSet; a key kept
// is the one the members describe. The seeds are the keys of fuzzJWKs.
func FuzzJWK(f *testing.F) {
	k := fuzzJWKs
	e := big.NewInt(int64(k.rsa.E)).Bytes()
	point := func(p *ecdsa.PublicKey) (x, y []byte) {
		b, err := p.Bytes()
		if err != nil {
			f.Fatal(err)
		}
		size := (len(b) - 1) / 2
		return b[1 : 1+size], b[1+size:]
	}
	f.Add("RSA", "", "RS256", "sig", k.rsa.N.Bytes(), e, []byte(nil), []byte(nil))
	f.Add("RSA", "", "", "", k.rsa.N.Bytes()[:128], e, []byte(nil), []byte(nil))
	f.Add("RSA", "", "PS512", "", k.rsa.N.Bytes(), []byte{0, 1, 0, 1}, []byte(nil), []byte(nil))
	for _, p := range []*ecdsa.PublicKey{k.p256, k.p384, k.p521} {
		x, y := point(p)
		f.Add("EC", p.Curve.Params().Name, "", "sig", []byte(nil), []byte(nil), x, y)
	}
	x, y := point(k.p256)
	f.Add("EC", "P-256", "ES256", "", []byte(nil), []byte(nil), x, append(slices.Clone(y[:31]), y[31]^1))
	f.Add("OKP", "Ed25519", "EdDSA", "sig", []byte(nil), []byte(nil), []byte(k.ed), []byte(nil))
	f.Fuzz(func(t *testing.T, kty, crv, alg, use string, n, e, x, y []byte) {
		enc := base64.RawURLEncoding.EncodeToString
		jwk := map[string]any{"kty": kty, "crv": crv, "alg": alg, "use": use, "n": enc(n), "e": enc(e), "x": enc(x), "y": enc(y)}
		data, err := json.Marshal(map[string]any{"keys": []any{jwk}})
		if err != nil {
			t.Fatal(err)
		}
		keys := checkJWKSet(t, data)
		if len(keys) == 0 {
			return
		}
		switch key := keys[0].Key.(type) {
		case *rsa.PublicKey:
			if kty != "RSA" || key.N.Cmp(new(big.Int).SetBytes(n)) != 0 || int64(key.E) != new(big.Int).SetBytes(e).Int64() {
				t.Fatalf("kty %q n %x e %x: kept RSA key %x, %d", kty, n, e, key.N, key.E)
			}
		case *ecdsa.PublicKey:
			b, _ := key.Bytes()
			if kty != "EC" || key.Curve.Params().Name != crv || !bytes.Equal(b, slices.Concat([]byte{4}, x, y)) {
				t.Fatalf("kty %q crv %q x %x y %x: kept EC key %x on %s", kty, crv, x, y, b, key.Curve.Params().Name)
			}
		case ed25519.PublicKey:
			if kty != "OKP" || crv != "Ed25519" || !bytes.Equal(key, x) {
				t.Fatalf("kty %q crv %q x %x: kept Ed25519 key %x", kty, crv, x, key)
			}
		}
	})
}

// TestJWKSetRefusesRSAKeysCryptoRSARefuses: an RSA JWK with an even
// modulus, or an exponent above 2³¹-1, is malformed (crypto/rsa refuses
// either at every verification) and is left out like one of too few bits,
// or too many (MaxRSABits);
// a set of only such keys is refused, and the keys in use stay. Both were
// kept, so that such a set replaced a good one and every token failed.
func TestJWKSetRefusesRSAKeysCryptoRSARefuses(t *testing.T) {
	enc := base64.RawURLEncoding.EncodeToString
	n := fuzzJWKs.rsa.N.Bytes()
	even := slices.Clone(n)
	even[len(even)-1] &^= 1
	big := bytes.Repeat([]byte{0xff}, 1025) // 8200 bits, odd; from the second byte, 8192
	big[0] = 1
	for name, k := range map[string]string{
		"even modulus":      `{"kty":"RSA","n":"` + enc(even) + `","e":"AQAB"}`,
		"exponent 2³¹+1":    `{"kty":"RSA","n":"` + enc(n) + `","e":"` + enc([]byte{0x80, 0, 0, 1}) + `"}`,
		"exponent 2³²-1":    `{"kty":"RSA","n":"` + enc(n) + `","e":"_____w"}`,
		"exponent 2³¹-1 ok": `{"kty":"RSA","n":"` + enc(n) + `","e":"` + enc([]byte{0x7f, 0xff, 0xff, 0xff}) + `"}`,
		"8200 bits":         `{"kty":"RSA","n":"` + enc(big) + `","e":"AQAB"}`,
		"8192 bits ok":      `{"kty":"RSA","n":"` + enc(big[1:]) + `","e":"AQAB"}`,
	} {
		keys, _, err := parseJWKSet([]byte(`{"keys":[` + k + `]}`))
		if ok := strings.HasSuffix(name, " ok"); (err == nil) != ok {
			t.Errorf("%s: %d keys, error %v", name, len(keys), err)
		}
	}
}
