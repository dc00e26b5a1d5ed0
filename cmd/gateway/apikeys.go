package main

import (
	"crypto/sha256"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/config"
	"github.com/sluicehq/sluice/internal/tlscert"
	"github.com/sluicehq/sluice/middleware"
)

// apiKeyFiles follows the keys files of the auth.api_keys providers
// serving: a partner's key added or revoked in its file is taken without a
// reload, as a renewed certificate is. Each configuration loaded (start,
// reload, SIGHUP) reads the files itself; between loads, the files are
// polled, and a file that changed and parses replaces its provider's keys.
// One that does not parse is logged, and the keys already loaded go on
// serving.
type apiKeyFiles struct {
	logger  *slog.Logger
	serving atomic.Pointer[[]apiKeyFile]
	// stamps are the hashes of each provider's file as last read, by the
	// provider's checker; only the watching goroutine touches them.
	stamps map[*middleware.APIKeys][sha256.Size]byte
}

// apiKeyFile is the keys file of one provider serving.
type apiKeyFile struct {
	provider, file string
	keys           *middleware.APIKeys
}

func newAPIKeyFiles(logger *slog.Logger) *apiKeyFiles {
	return &apiKeyFiles{logger: logger, stamps: make(map[*middleware.APIKeys][sha256.Size]byte)}
}

// use makes cfg's providers the ones followed, once its routes serve.
func (f *apiKeyFiles) use(cfg *config.Config) {
	var files []apiKeyFile
	for name, p := range cfg.Auth.APIKeys {
		if keys := cfg.APIKeys(name); keys != nil {
			files = append(files, apiKeyFile{provider: name, file: p.KeysFile, keys: keys})
		}
	}
	f.serving.Store(&files)
}

// watch checks the files every interval until stop is closed.
func (f *apiKeyFiles) watch(interval time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			f.check()
		}
	}
}

// check reads every file serving, and gives its provider the keys of a
// file that changed since it was last read. A provider's first reading
// after its configuration loaded is taken silently: the load read the
// file too.
func (f *apiKeyFiles) check() {
	p := f.serving.Load()
	if p == nil {
		return
	}
	seen := make([]*middleware.APIKeys, 0, len(*p))
	for _, af := range *p {
		seen = append(seen, af.keys)
		attrs := []any{slog.String("provider", af.provider), slog.String("file", af.file)}
		data, err := tlscert.ReadFile(af.file, config.MaxAPIKeyFileBytes)
		if err != nil {
			f.refused(af, [sha256.Size]byte{1}, attrs, err) // unreadable: a stamp no content has
			continue
		}
		stamp := sha256.Sum256(data)
		last, known := f.stamps[af.keys]
		if known && last == stamp {
			continue
		}
		keys, err := config.ParseAPIKeys(af.file, data)
		if err == nil {
			err = af.keys.Set(keys)
		}
		if err != nil {
			f.refused(af, stamp, attrs, err)
			continue
		}
		f.stamps[af.keys] = stamp
		if known {
			f.logger.Info("API keys reloaded", append(attrs, slog.Int("keys", len(keys)))...)
		}
	}
	for k := range f.stamps {
		if !slices.Contains(seen, k) {
			delete(f.stamps, k) // a provider a reload replaced
		}
	}
}

// refused logs, once for each content of the file, that it could not be
// taken.
func (f *apiKeyFiles) refused(af apiKeyFile, stamp [sha256.Size]byte, attrs []any, err error) {
	if last, known := f.stamps[af.keys]; known && last == stamp {
		return
	}
	f.stamps[af.keys] = stamp
	f.logger.Error("API keys reload failed; the keys already loaded keep serving", append(attrs, slog.String("error", err.Error()))...)
}
