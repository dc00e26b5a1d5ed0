package middleware

import (
	"errors"
	"fmt"
	"slices"

	"github.com/golang-jwt/jwt/v5"
)

// keyRing is one provider's verification keys, arranged for lookup: by kid,
// and by algorithm for tokens that name none. It is immutable; a JWKS
// refresh builds a new one. Its pointer identifies the key set a cached
// token was verified against.
type keyRing struct {
	byID  map[string]JWTKey
	byAlg map[string]any // alg → key, or a jwt.VerificationKeySet
}

// errDuplicateKid marks a kid that two configured keys share.
var errDuplicateKid = errors.New("duplicate kid")

// keyFits returns the algorithms of allowed that key may verify: those its
// type allows (keyAlgorithms), narrowed to its Algorithm when it has one.
func keyFits(k JWTKey, allowed []string) ([]string, error) {
	algs, err := keyAlgorithms(k.Key)
	if err != nil {
		return nil, err
	}
	if k.Algorithm != "" {
		if !slices.Contains(algs, k.Algorithm) {
			return nil, fmt.Errorf("%s cannot verify %s (it fits %v)", keyKind(k.Key), k.Algorithm, algs)
		}
		algs = []string{k.Algorithm}
	}
	var fits []string
	for _, alg := range algs {
		if slices.Contains(allowed, alg) {
			fits = append(fits, alg)
		}
	}
	if len(fits) == 0 {
		return nil, fmt.Errorf("%s fits none of the algorithms %v (it fits %v)", keyKind(k.Key), allowed, algs)
	}
	return fits, nil
}

// newKeyRing arranges keys for the allowed algorithms. With strict, every
// key must fit an allowed algorithm, kids must be unique and every allowed
// algorithm must have a key (configured keys: a mistake is an error); without
// it (keys from a JWKS), keys that fit nothing and repeated kids are left
// out, and only an empty result is an error. The error's index is the key's.
func newKeyRing(keys []JWTKey, allowed []string, strict bool) (*keyRing, int, error) {
	r := &keyRing{byID: map[string]JWTKey{}, byAlg: map[string]any{}}
	sets := map[string][]jwt.VerificationKey{}
	for i, k := range keys {
		fits, err := keyFits(k, allowed)
		if err != nil {
			if strict {
				return nil, i, err
			}
			continue
		}
		if k.ID != "" {
			if _, dup := r.byID[k.ID]; dup {
				if strict {
					return nil, i, fmt.Errorf("%w: id %q is given twice", errDuplicateKid, k.ID)
				}
				continue
			}
			r.byID[k.ID] = k
		}
		for _, alg := range fits {
			sets[alg] = append(sets[alg], k.Key)
		}
	}
	for _, alg := range allowed {
		switch ks := sets[alg]; len(ks) {
		case 0:
			if strict {
				return nil, -1, fmt.Errorf("no key fits %s", alg)
			}
		case 1:
			r.byAlg[alg] = ks[0]
		default:
			r.byAlg[alg] = jwt.VerificationKeySet{Keys: ks}
		}
	}
	if len(sets) == 0 {
		return nil, -1, errors.New("no key fits any of the algorithms")
	}
	return r, -1, nil
}

// lookup returns the key for a token signed with alg, naming kid when
// named: that key and no other, which must fit alg; without a kid, every
// key that fits alg.
func (r *keyRing) lookup(alg, kid string, named bool) (any, error) {
	if !named {
		if k, ok := r.byAlg[alg]; ok {
			return k, nil
		}
		return nil, errUnknownKey
	}
	k, ok := r.byID[kid]
	if !ok || kid == "" {
		return nil, errUnknownKey
	}
	algs, _ := keyAlgorithms(k.Key)
	if !slices.Contains(algs, alg) || k.Algorithm != "" && k.Algorithm != alg {
		return nil, errKeyMisfit
	}
	return k.Key, nil
}

// has reports whether the ring holds a key with id kid.
func (r *keyRing) has(kid string) bool {
	_, ok := r.byID[kid]
	return ok
}
