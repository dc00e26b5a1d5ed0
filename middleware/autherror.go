package middleware

import (
	"net/http"

	"github.com/sluicehq/sluice/internal/problem"
)

// Reasons a request fails authentication: the values of AuthError.Reason and
// of the reason label of sluice_auth_failures_total. The set is closed.
const (
	ReasonMissing      = "missing"       // no Authorization header, or not a Bearer one
	ReasonMalformed    = "malformed"     // not a compact JWS, bad base64 or JSON, several Authorization fields
	ReasonTooLarge     = "too_large"     // longer than MaxTokenBytes
	ReasonAlgorithm    = "algorithm"     // an algorithm not allowed, or not fitting the key its kid names
	ReasonUnknownKey   = "unknown_key"   // no key with the token's kid, or none for its algorithm
	ReasonSignature    = "bad_signature" // the signature does not verify
	ReasonExpired      = "expired"       // "exp" passed (beyond the leeway)
	ReasonNotYetValid  = "not_yet_valid" // "nbf" or "iat" in the future (beyond the leeway)
	ReasonIssuer       = "bad_issuer"    // "iss" is not the configured issuer
	ReasonAudience     = "bad_audience"  // no "aud" value is a configured audience
	ReasonMissingClaim = "missing_claim" // "exp" is missing, or "iss" or "aud" when they are checked
	ReasonInvalid      = "invalid"       // any other claim error (a mistyped claim, say)
	// ReasonKeysUnavailable: the provider's JWKS has never been fetched
	// and could not be now. Answered 503, not 401: the token may be good.
	ReasonKeysUnavailable = "keys_unavailable"
)

// reasonText is the error_description of each reason: fixed text, so that
// nothing of the token is echoed, and within RFC 6750's character set.
var reasonText = map[string]string{
	ReasonMissing:         "a bearer token is required",
	ReasonMalformed:       "the token is malformed",
	ReasonTooLarge:        "the token is too large",
	ReasonAlgorithm:       "the token's signing algorithm is not accepted",
	ReasonUnknownKey:      "no key is known for the token",
	ReasonSignature:       "the token's signature is invalid",
	ReasonExpired:         "the token has expired",
	ReasonNotYetValid:     "the token is not valid yet",
	ReasonIssuer:          "the token's issuer is not accepted",
	ReasonAudience:        "the token's audience is not accepted",
	ReasonMissingClaim:    "the token lacks a required claim",
	ReasonInvalid:         "the token's claims are invalid",
	ReasonKeysUnavailable: "the keys to verify the token cannot be loaded now",
}

// challenges holds the WWW-Authenticate value of each reason, built once.
// A request with no credentials gets the bare challenge (RFC 6750 §3.1:
// no error code when the client sent no authentication).
var challenges = func() map[string]string {
	m := make(map[string]string, len(reasonText))
	for reason, text := range reasonText {
		m[reason] = `Bearer realm="sluice", error="invalid_token", error_description="` + text + `"`
	}
	m[ReasonMissing] = `Bearer realm="sluice"`
	return m
}()

// AuthError is why a request failed authentication.
type AuthError struct {
	// Reason is one of the Reason constants.
	Reason string
	// Err is the underlying error, when there is one; it is logged, never
	// sent to the client.
	Err error
}

func authError(reason string, err error) *AuthError { return &AuthError{Reason: reason, Err: err} }

// Error returns the reason and the underlying error, for logs.
func (e *AuthError) Error() string {
	if e.Err != nil {
		return "auth: " + e.Reason + ": " + e.Err.Error()
	}
	return "auth: " + e.Reason
}

// Unwrap returns the underlying error.
func (e *AuthError) Unwrap() error { return e.Err }

// Description is the fixed, client-safe text of the error's reason.
func (e *AuthError) Description() string { return reasonText[e.Reason] }

// writeUnauthorized answers 401 with the RFC 6750 challenge and a problem
// body of type unauthorized; keys that cannot be loaded are 503 unavailable
// with Retry-After instead.
func writeUnauthorized(w http.ResponseWriter, e *AuthError) {
	if e.Reason == ReasonKeysUnavailable {
		w.Header().Set("Retry-After", "1")
		problem.Write(w, http.StatusServiceUnavailable, problem.TypeKeysUnavailable, "Keys unavailable", e.Description())
		return
	}
	w.Header().Set("WWW-Authenticate", challenges[e.Reason])
	problem.Write(w, http.StatusUnauthorized, problem.TypeUnauthorized, "Unauthorized", e.Description())
}
