package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHealthcheck(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/healthz":
			_, _ = io.WriteString(w, "ok\n")
		case "/draining":
			w.WriteHeader(http.StatusServiceUnavailable)
		case "/moved":
			http.Redirect(w, r, "/healthz", http.StatusFound)
		case "/hang":
			select { // until the client gives up, or the test ends
			case <-r.Context().Done():
			case <-release:
			}
		}
	}))
	defer srv.Close()
	defer close(release)

	tests := []struct {
		name string
		args []string
		env  map[string]string
		code int
		msg  string // on stderr
	}{
		{"200", []string{"-url", srv.URL + "/healthz"}, nil, 0, ""},
		{"503", []string{"-url", srv.URL + "/draining"}, nil, 1, "503 Service Unavailable"},
		{"a redirect is not health", []string{"-url", srv.URL + "/moved"}, nil, 1, "302 Found"},
		{"no answer in time", []string{"-url", srv.URL + "/hang", "-timeout", "200ms"}, nil, 1, "deadline exceeded"},
		{"nothing listening", []string{"-url", "http://127.0.0.1:1/healthz"}, nil, 1, "refused"},
		{"the default URL follows SLUICE_LISTEN", nil,
			map[string]string{envListen: "0.0.0.0:" + srv.URL[strings.LastIndex(srv.URL, ":")+1:]}, 0, ""},
		{"bad URL", []string{"-url", "::"}, nil, 2, "-url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			code, stdout, stderr := invoke(t, "", tt.env, append([]string{"healthcheck"}, tt.args...)...)
			if code != tt.code || stdout != "" || (tt.msg == "") != (stderr == "") || !strings.Contains(stderr, tt.msg) {
				t.Errorf("exit %d, stdout %q, stderr %q: want %d and %q", code, stdout, stderr, tt.code, tt.msg)
			}
			if took := time.Since(start); took > 30*time.Second {
				t.Errorf("took %v", took)
			}
		})
	}
}
