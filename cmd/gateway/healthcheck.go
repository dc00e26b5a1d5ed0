package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// defaultHealthTimeout is how long healthcheck waits for an answer.
const defaultHealthTimeout = 2 * time.Second

// healthcheck asks a running gateway whether it is alive, for a container's
// HEALTHCHECK (a scratch or distroless image has no shell and no curl): it
// exits 0 when the URL answers 200 within the timeout, 1 otherwise. The
// default URL is /healthz on loopback at the port of $SLUICE_LISTEN, or of
// the embedded default's listener.
func (c *cli) healthcheck(ctx context.Context, args []string) error {
	fs := c.flags("healthcheck")
	url := fs.String("url", c.defaultHealthURL(), "`URL` to ask; /readyz instead of /healthz also fails while the gateway drains")
	timeout := fs.Duration("timeout", defaultHealthTimeout, "how long to wait for the answer")
	rest, err := parse(fs, args)
	if err != nil {
		return err
	}
	if err := noArguments("healthcheck", rest); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, *url, nil)
	if err != nil {
		return usagef("healthcheck: -url: %v", err)
	}
	req.Header.Set("User-Agent", "sluice-healthcheck")
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", *url, resp.Status)
	}
	return nil
}

// defaultHealthURL is /healthz on loopback, at the port the embedded
// default listens on.
func (c *cli) defaultHealthURL() string {
	port := "8080"
	if _, p, err := net.SplitHostPort(c.getenv(envListen)); err == nil && p != "" {
		port = p
	}
	return "http://" + net.JoinHostPort("127.0.0.1", port) + "/healthz"
}

// writeFileAtomic writes data to file through a temporary file beside it,
// so that a reader never sees half of it.
func writeFileAtomic(file string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(file), ".gateway-*")
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(f.Name())
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		os.Remove(f.Name())
		return err
	}
	return os.Rename(f.Name(), file)
}
