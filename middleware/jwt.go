package middleware

import (
	"cmp"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MaxTokenBytes bounds the bearer tokens a JWTVerifier looks at; a longer
// one is refused before it is decoded.
const MaxTokenBytes = 8 << 10

// JWTKey is one verification key of a token issuer.
type JWTKey struct {
	// ID matches the "kid" of a token's header. A token that names a kid is
	// verified with that key only; a token without one with every key
	// that fits its algorithm.
	ID string
	// Key is an HMAC secret ([]byte) or a public key: *rsa.PublicKey,
	// *ecdsa.PublicKey or ed25519.PublicKey (see ParsePublicKeyPEM).
	Key any
	// Algorithm, when set, is the only algorithm the key may verify (a
	// JWK's "alg"); empty means every algorithm its type fits.
	Algorithm string
}

// JWTSettings configure a JWTVerifier: one issuer of tokens.
type JWTSettings struct {
	// Issuer, when set, must equal the token's "iss".
	Issuer string
	// Audiences, when set, must include one of the token's "aud" values.
	Audiences []string
	// Algorithms lists the accepted signature algorithms (JWTAlgorithms);
	// a token signed with any other is refused before a key is looked up.
	Algorithms []string
	// Keys verify signatures. Each must fit at least one algorithm. Give
	// Keys or JWKS, not both.
	Keys []JWTKey
	// JWKS, when set, supplies the keys instead, fetched from a JWK Set
	// URL; it must have been built for the same Algorithms.
	JWKS *JWKS
	// Leeway is the clock skew allowed on "exp", "nbf" and "iat".
	Leeway time.Duration
	// ForwardClaims maps a claim name to the request header it is copied
	// into, for the backend; any such header the client sent is removed.
	ForwardClaims map[string]string
	// ForwardToken keeps the client's Authorization header on the request
	// sent to the backend; by default it is removed.
	ForwardToken bool
	// CacheSize bounds how many verified tokens are remembered, so that a
	// token sent again is not verified again (its time claims still are).
	// Zero means DefaultTokenCacheSize; less than zero turns the cache off.
	CacheSize int
	// Now returns the current time; nil means time.Now.
	Now func() time.Time
}

// JWTVerifier verifies bearer tokens against one issuer's settings. It is
// immutable and safe for concurrent use; build one per configuration load,
// since its keys are parsed up front.
type JWTVerifier struct {
	parser       *jwt.Parser
	allowed      map[string]bool
	keys         *keyRing // the configured keys; nil with jwks
	jwks         *JWKS
	claims       []claimHeader
	forwardToken bool
	cache        *tokenCache // nil when off
	now          func() time.Time
}

type claimHeader struct{ claim, header string }

// Identity is what a verified token says about its bearer.
type Identity struct {
	// Subject is the token's "sub", possibly empty.
	Subject string
	// Claims are all of the token's claims, as decoded from JSON.
	Claims map[string]any
	// forward are the header values of the verifier's forwarded claims
	// (JWTVerifier.claims, in its order), computed once per token.
	forward []forwardValue
}

// forwardValue is one forwarded claim's header value, and whether it is
// forwarded at all.
type forwardValue struct {
	value string
	ok    bool
}

// NewJWTVerifier checks s and returns a verifier for it.
func NewJWTVerifier(s JWTSettings) (*JWTVerifier, error) {
	if len(s.Algorithms) == 0 {
		return nil, settingsErr("algorithms", errors.New("list at least one"))
	}
	switch {
	case s.JWKS != nil && len(s.Keys) > 0:
		return nil, settingsErr("jwks", errors.New("give keys or jwks, not both"))
	case s.JWKS == nil && len(s.Keys) == 0:
		return nil, settingsErr("keys", errors.New("list at least one (or give jwks)"))
	}
	v := &JWTVerifier{allowed: map[string]bool{}, jwks: s.JWKS, forwardToken: s.ForwardToken}
	for _, alg := range s.Algorithms {
		if !slices.Contains(JWTAlgorithms, alg) {
			return nil, settingsErr("algorithms", fmt.Errorf("%q is not supported (use some of %v)", alg, JWTAlgorithms))
		}
		v.allowed[alg] = true
	}
	if s.JWKS != nil {
		if !sameSet(s.JWKS.s.Algorithms, s.Algorithms) {
			return nil, settingsErr("jwks", fmt.Errorf("built for algorithms %v, not %v", s.JWKS.s.Algorithms, s.Algorithms))
		}
	} else {
		ring, i, err := newKeyRing(s.Keys, s.Algorithms, true)
		if err != nil {
			if i >= 0 {
				field := fmt.Sprintf("keys[%d]", i)
				if errors.Is(err, errDuplicateKid) {
					field += ".id"
				}
				return nil, settingsErr(field, err)
			}
			return nil, settingsErr("algorithms", err)
		}
		v.keys = ring
	}
	headers := map[string]string{}
	for claim, header := range s.ForwardClaims {
		h, err := forwardHeader(header)
		if err != nil {
			return nil, settingsErr("forward_claims."+claim, err)
		}
		if other, dup := headers[h]; dup {
			return nil, settingsErr("forward_claims."+claim, fmt.Errorf("claims %q and %q both go to %s", other, claim, h))
		}
		headers[h] = claim
		v.claims = append(v.claims, claimHeader{claim: claim, header: h})
	}
	slices.SortFunc(v.claims, func(a, b claimHeader) int { return cmp.Compare(a.header, b.header) })
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(slices.Clone(s.Algorithms)),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(s.Leeway),
	}
	if s.Now != nil {
		opts = append(opts, jwt.WithTimeFunc(s.Now))
	}
	if s.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(s.Issuer))
	}
	if len(s.Audiences) > 0 {
		opts = append(opts, jwt.WithAudience(s.Audiences...))
	}
	v.parser = jwt.NewParser(opts...)
	v.now = s.Now
	if v.now == nil {
		v.now = time.Now
	}
	switch {
	case s.CacheSize == 0:
		v.cache = newTokenCache(DefaultTokenCacheSize, s.Leeway)
	case s.CacheSize > 0:
		v.cache = newTokenCache(s.CacheSize, s.Leeway)
	}
	return v, nil
}

// SettingsError is a fault in JWTSettings; Field names the field in the
// configuration's terms: "algorithms", "keys[1]", "forward_claims.sub".
type SettingsError struct {
	Field string
	Err   error
}

func settingsErr(field string, err error) error { return &SettingsError{Field: field, Err: err} }

// Error returns the field and the fault.
func (e *SettingsError) Error() string { return e.Field + ": " + e.Err.Error() }

// Unwrap returns the fault.
func (e *SettingsError) Unwrap() error { return e.Err }

var (
	errUnknownKey = errors.New("no key has the token's kid")
	errKeyMisfit  = errors.New("the token's kid names a key that does not fit its algorithm")
	errCritical   = errors.New("the token has critical header parameters")
)

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	for _, x := range b {
		if !slices.Contains(a, x) {
			return false
		}
	}
	return true
}

// keyFunc returns the jwt.Keyfunc of one verification under ctx, and
// records in *ring the key ring it used. The parser has already refused
// algorithms not in the allowlist, so t.Method is one of them; the key is
// picked by kid when the token names one, else by algorithm, and its type
// is checked against the algorithm either way. With a JWKS, a kid the
// current set lacks asks for a refresh (JWKS.ring) and waits for it.
func (v *JWTVerifier) keyFunc(ctx context.Context, ring **keyRing) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		if _, ok := t.Header["crit"]; ok {
			return nil, errCritical // RFC 7515 §4.1.11: we understand no extension
		}
		kid, named := t.Header["kid"]
		id, _ := kid.(string)
		r := v.keys
		if v.jwks != nil {
			var err error
			if r, err = v.jwks.ring(ctx, id, named); err != nil {
				return nil, err
			}
		}
		*ring = r
		return r.lookup(t.Method.Alg(), id, named)
	}
}

// Verify checks a compact JWS token: size, algorithm, key, signature, then
// the claims ("exp" required; "nbf", "iat" within the leeway; "iss" and
// "aud" when configured). A failure is an *AuthError. A token that verified
// before is found in the verifier's cache, and only its time claims are
// checked again. The Identity returned is shared: do not modify it.
//
// With a JWKS, Verify may wait for a refresh of the key set (a token names
// an unknown kid, or none was ever loaded): VerifyContext bounds that wait.
func (v *JWTVerifier) Verify(token string) (*Identity, error) {
	return v.VerifyContext(context.Background(), token)
}

// VerifyContext is Verify, waiting for a JWKS refresh no longer than ctx
// allows.
func (v *JWTVerifier) VerifyContext(ctx context.Context, token string) (*Identity, error) {
	if len(token) > MaxTokenBytes {
		return nil, authError(ReasonTooLarge, nil)
	}
	var key [sha256.Size]byte
	if v.cache != nil {
		key = sha256.Sum256([]byte(token))
		if id, ok := v.cache.get(key, v.now(), v.current()); ok {
			return id, nil
		}
	}
	if err := plainHeader(token); err != nil {
		return nil, authError(ReasonMalformed, err) // before jwt/v5 decodes it (jwtheader.go)
	}
	var lazy lazyClaims // decoded once the signature is good (jwtclaims.go)
	var ring *keyRing
	t, err := v.parser.ParseWithClaims(token, &lazy, v.keyFunc(ctx, &ring))
	if lazy.err != nil {
		// As jwt/v5 refuses a payload it cannot decode into jwt.MapClaims.
		return nil, authError(ReasonMalformed, lazy.err)
	}
	if err != nil {
		return nil, authError(v.classify(t, err), err)
	}
	claims, _ := lazy.claims()
	id := &Identity{Claims: claims}
	id.Subject, _ = claims["sub"].(string)
	id.forward = v.forwardValues(lazy.raw, claims)
	if v.cache != nil {
		v.cache.put(key, id, ring)
	}
	return id, nil
}

// current returns the key ring in use now, without waiting: a cached token
// is only good while the ring it verified against is the current one, so
// that a key removed from a JWKS stops working for cached tokens too.
func (v *JWTVerifier) current() *keyRing {
	if v.jwks != nil {
		return v.jwks.current()
	}
	return v.keys
}

// classify names the reason a token was refused, from jwt/v5's errors.
func (v *JWTVerifier) classify(t *jwt.Token, err error) string {
	switch {
	case errors.Is(err, ErrKeysUnavailable):
		return ReasonKeysUnavailable
	case errors.Is(err, errUnknownKey):
		return ReasonUnknownKey
	case errors.Is(err, errKeyMisfit):
		return ReasonAlgorithm
	case errors.Is(err, jwt.ErrTokenMalformed), errors.Is(err, errCritical):
		return ReasonMalformed
	case errors.Is(err, jwt.ErrTokenUnverifiable):
		return ReasonAlgorithm // an algorithm jwt/v5 does not know
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		if t != nil && t.Method != nil && !v.allowed[t.Method.Alg()] {
			return ReasonAlgorithm
		}
		return ReasonSignature
	case errors.Is(err, jwt.ErrTokenExpired):
		return ReasonExpired
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		return ReasonNotYetValid
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		return ReasonIssuer
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		return ReasonAudience
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return ReasonMissingClaim
	}
	return ReasonInvalid
}
