package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"

	"github.com/caddyserver/certmagic"
)

// A certificate certmagic cannot load from storage (a truncated file, a
// key that is not the certificate's, metadata that is not JSON: a disk
// fault, a backup restored in part, a hand edit) made ManageAsync give its
// name up: the error went to certmagic's logger, which the gateway
// silences, and the name was neither served, nor obtained, nor retried
// while the gateway ran. Every handshake for it failed, the gateway said
// it was ready and logged nothing about the name. So the gateway reads
// what storage holds for each name first, and sets an unusable certificate
// aside (renamed with unusableSuffix, for an operator to look at) so that
// a new one is obtained, as for a name storage has nothing for.

// unusableSuffix is appended to the storage keys of a certificate set
// aside.
const unusableSuffix = ".unusable"

// certIssueLock is the storage lock certmagic holds while it obtains or
// renews name, so that replicas sharing storage take turns.
func certIssueLock(name string) string { return "issue_cert_" + name }

// storedUnusable returns why the certificate storage holds for name cannot
// be loaded, or nil when it holds a usable one or none (a part missing
// counts as none: certmagic obtains a new one).
func storedUnusable(ctx context.Context, magic *certmagic.Config, name string) error {
issuers:
	for _, iss := range magic.Issuers {
		var data [3][]byte
		for i, key := range siteKeys(iss.IssuerKey(), name) {
			b, err := magic.Storage.Load(ctx, key)
			if errors.Is(err, fs.ErrNotExist) {
				continue issuers
			}
			if err != nil {
				return err
			}
			data[i] = b
		}
		if _, err := tls.X509KeyPair(data[1], data[0]); err != nil {
			return err
		}
		if !json.Valid(data[2]) {
			return errors.New("its metadata is not JSON")
		}
	}
	return nil
}

// siteKeys returns the storage keys of the certificate of name: its
// private key, its chain and its metadata.
func siteKeys(issuerKey, name string) [3]string {
	k := certmagic.StorageKeys
	return [3]string{k.SitePrivateKey(issuerKey, name), k.SiteCert(issuerKey, name), k.SiteMeta(issuerKey, name)}
}

// replaceUnusable sets the certificate of name aside, under certmagic's
// lock of name and unless another replica replaced it meanwhile, then
// hands name to certmagic, which obtains a new one. It reads storage
// again under the lock, so that what it logs is what it found there.
func (g *gateway) replaceUnusable(ctx context.Context, magic *certmagic.Config, name string) {
	if err := magic.Storage.Lock(ctx, certIssueLock(name)); err != nil {
		return // stopping
	}
	if why := storedUnusable(ctx, magic, name); why != nil {
		var failed error
		for _, iss := range magic.Issuers {
			for _, key := range siteKeys(iss.IssuerKey(), name) {
				failed = errors.Join(failed, setAside(ctx, magic.Storage, key))
			}
		}
		if failed != nil {
			g.logger.Error("acme: the stored certificate cannot be loaded nor set aside: it is not served, nor obtained again; remove it from storage and restart",
				slog.String("name", name), slog.String("error", why.Error()), slog.String("set_aside_error", failed.Error()))
			_ = magic.Storage.Unlock(context.WithoutCancel(ctx), certIssueLock(name))
			return
		}
		g.logger.Error("acme: the stored certificate cannot be loaded; set aside (storage keys ending "+unusableSuffix+"), a new one is obtained",
			slog.String("name", name), slog.String("error", why.Error()))
	}
	_ = magic.Storage.Unlock(context.WithoutCancel(ctx), certIssueLock(name))
	_ = magic.ManageAsync(ctx, []string{name})
}

// setAside renames key to key+unusableSuffix; a key that does not exist
// is left.
func setAside(ctx context.Context, s certmagic.Storage, key string) error {
	data, err := s.Load(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := s.Store(ctx, key+unusableSuffix, data); err != nil {
		return err
	}
	return s.Delete(ctx, key)
}
