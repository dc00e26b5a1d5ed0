package main

import (
	"context"
	"log/slog"
	"maps"
	"slices"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// certmagic reports through its events (acmeEvent) only what happens
// around an attempt of the CA's; what fails before or after one goes to
// its zap logger only. Silenced, a renewal whose certificate could not be
// saved (a storage gone read-only: the CA had issued it, and issues
// another at each retry, which Let's Encrypt limits to 5 a week), or one
// that could not read storage, let the certificate expire with nothing in
// the gateway's log. certmagicLogger passes certmagic's errors on to the
// gateway's log, prefixed "acme: certmagic: ", but for those a client can
// cause at will, one a handshake, and those acmeEvent logs already.

// certmagicQuiet are certmagic's error messages left out: "tls-alpn
// challenge" comes from any handshake offering acme-tls/1 alone for a name
// without a challenge under way; "could not get certificate from issuer"
// is the "cert_failed" event acmeEvent logs.
var certmagicQuiet = map[string]bool{
	"tls-alpn challenge":                    true,
	"could not get certificate from issuer": true,
}

// certmagicLogger returns a zap logger that writes certmagic's errors to
// logger.
func certmagicLogger(logger *slog.Logger) *zap.Logger {
	if logger == nil {
		return zap.NewNop()
	}
	return zap.New(&slogCore{logger: logger})
}

// slogCore is a zapcore.Core that writes entries of level error and above
// to a slog logger.
type slogCore struct {
	logger *slog.Logger
	fields []zapcore.Field
}

func (c *slogCore) Enabled(l zapcore.Level) bool { return l >= zapcore.ErrorLevel }

func (c *slogCore) With(fields []zapcore.Field) zapcore.Core {
	return &slogCore{logger: c.logger, fields: append(c.fields[:len(c.fields):len(c.fields)], fields...)}
}

func (c *slogCore) Check(e zapcore.Entry, ce *zapcore.CheckedEntry) *zapcore.CheckedEntry {
	if c.Enabled(e.Level) && !certmagicQuiet[e.Message] {
		return ce.AddCore(e, c)
	}
	return ce
}

func (c *slogCore) Write(e zapcore.Entry, fields []zapcore.Field) error {
	enc := zapcore.NewMapObjectEncoder()
	for _, f := range append(c.fields[:len(c.fields):len(c.fields)], fields...) {
		f.AddTo(enc)
	}
	attrs := make([]slog.Attr, 0, len(enc.Fields))
	for _, k := range slices.Sorted(maps.Keys(enc.Fields)) {
		attrs = append(attrs, slog.Any(k, enc.Fields[k]))
	}
	c.logger.LogAttrs(context.Background(), slog.LevelError, "acme: certmagic: "+e.Message, attrs...)
	return nil
}

func (c *slogCore) Sync() error { return nil }
