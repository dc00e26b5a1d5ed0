package main

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/internal/problem"
)

// defaultHTTPSPort is where redirectHTTPS sends clients when the listener
// names no port; it is left out of the URL.
const defaultHTTPSPort = 443

// redirectHTTPS answers every request with a 308 to the same host, path
// and query over https, on port (0: 443, left out of the URL). 308 keeps
// the method and body, so that a client that follows it repeats a POST as
// a POST. A Host that is not a plain host name or address is answered 400
// rather than echoed into a Location.
func redirectHTTPS(port int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		if !plainHost(host) {
			problem.Write(w, http.StatusBadRequest, problem.TypeBadRequest, "Bad Request",
				"this listener redirects to https, which needs a Host header naming the host")
			return
		}
		if port != 0 && port != defaultHTTPSPort {
			host = net.JoinHostPort(host, strconv.Itoa(port))
		} else if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		w.Header().Set("Location", "https://"+host+r.URL.RequestURI())
		w.WriteHeader(http.StatusPermanentRedirect)
	})
}

// plainHost reports whether h is an IP address or a host name of letters,
// digits, dots, hyphens and underscores.
func plainHost(h string) bool {
	if h == "" {
		return false
	}
	if net.ParseIP(h) != nil {
		return true
	}
	for _, c := range []byte(h) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// hsts adds Strict-Transport-Security to every answer of next.
func hsts(c config.HSTS, next http.Handler) http.Handler {
	v := "max-age=" + strconv.FormatInt(int64(c.MaxAge/time.Second), 10)
	if c.IncludeSubdomains {
		v += "; includeSubDomains"
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Strict-Transport-Security", v)
		next.ServeHTTP(w, r)
	})
}
