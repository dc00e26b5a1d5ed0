// Command jwtmint prints an HS256 token for the load test: signed with the
// secret in the environment variable that -secret-env names, valid for
// -ttl from now.
//
//	SLUICE_BENCH_SECRET=... jwtmint -secret-env SLUICE_BENCH_SECRET -sub bench -iss sluice-bench -aud api
package main

import (
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func main() {
	secretEnv := flag.String("secret-env", "SLUICE_BENCH_SECRET", "environment `variable` holding the HMAC secret")
	sub := flag.String("sub", "bench", "the token's subject")
	iss := flag.String("iss", "", "the token's issuer; empty leaves it out")
	aud := flag.String("aud", "", "the token's audience; empty leaves it out")
	kid := flag.String("kid", "", "the header's kid; empty leaves it out")
	ttl := flag.Duration("ttl", time.Hour, "how long the token is valid")
	flag.Parse()
	secret := os.Getenv(*secretEnv)
	if secret == "" {
		fmt.Fprintf(os.Stderr, "jwtmint: environment variable %s is not set\n", *secretEnv)
		os.Exit(1)
	}
	now := time.Now()
	claims := jwt.MapClaims{"sub": *sub, "iat": now.Unix(), "exp": now.Add(*ttl).Unix()}
	if *iss != "" {
		claims["iss"] = *iss
	}
	if *aud != "" {
		claims["aud"] = *aud
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claims)
	if *kid != "" {
		tok.Header["kid"] = *kid
	}
	s, err := tok.SignedString([]byte(secret))
	if err != nil {
		fmt.Fprintln(os.Stderr, "jwtmint:", err)
		os.Exit(1)
	}
	fmt.Println(s)
}
