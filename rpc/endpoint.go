package rpc

import (
	"errors"
	"strings"
)

// PathPrefix is the URL path under which endpoints are served.
const PathPrefix = "/rpc/"

// ContentType is the media type of RPC request and success bodies.
const ContentType = "application/json"

// ErrBadEndpoint reports an endpoint name that is not of the form Service.Method.
var ErrBadEndpoint = errors.New("rpc: endpoint must be Service.Method, each an identifier")

// Path returns the URL path of an endpoint: Path("Greeter.Hello") is
// "/rpc/Greeter.Hello". It neither checks nor escapes endpoint, so that
// Path("../admin") is "/rpc/../admin": validate a name that did not come
// from a checked source first (ValidateEndpoint), as Register, the
// gateway's configuration, and the upstream client's Call and Stream do.
func Path(endpoint string) string { return PathPrefix + endpoint }

// ValidateEndpoint checks that endpoint is two identifiers joined by a dot.
// An identifier starts with a letter and goes on with letters, digits and
// underscores.
func ValidateEndpoint(endpoint string) error {
	svc, method, ok := strings.Cut(endpoint, ".")
	if !ok || !isIdent(svc) || !isIdent(method) {
		return ErrBadEndpoint
	}
	return nil
}

func isIdent(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		letter := (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '_')) {
			return false
		}
	}
	return true
}
