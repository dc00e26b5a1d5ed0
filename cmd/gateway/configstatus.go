package main

import (
	"encoding/json"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Results of a reload, the result label of sluice_config_reloads_total.
const (
	reloadApplied = "applied" // a new version serves
	reloadRefused = "refused" // the text has an error: the running one keeps serving
	reloadError   = "error"   // the text could not be read (file gone, key deleted)
)

// configStatus records which version of the configuration serves, and the
// last one refused, for GET /admin/config and the sluice_config_* metrics.
// It is safe for concurrent use.
type configStatus struct {
	source string // sourceFile, sourceConsul or sourceDefault
	name   string
	now    func() time.Time

	reloads     *prometheus.CounterVec
	info        *prometheus.GaugeVec
	lastReload  prometheus.Gauge
	index       prometheus.Gauge
	watchErrors prometheus.Counter

	mu      sync.Mutex
	applied configVersion
	refused *configVersion // the latest refusal since the version applied
	watch   watchState
}

// configVersion is one version of the configuration, applied or refused.
type configVersion struct {
	Hash  string    `json:"hash,omitempty"`
	Index uint64    `json:"index,omitempty"` // Consul KV ModifyIndex
	At    time.Time `json:"at"`
	Error string    `json:"error,omitempty"`
	// RestartRequired names the settings of an applied version that
	// differ from those the process started with and serves by
	// (listeners, shutdown_grace, ...): only a restart applies them.
	RestartRequired []string `json:"restart_required,omitempty"`
}

// watchState is how the watch of the source fares.
type watchState struct {
	Mode         string    `json:"mode"` // fsnotify, blocking-query or off
	LastError    string    `json:"last_error,omitempty"`
	FailingSince time.Time `json:"failing_since,omitzero"`
	Errors       int       `json:"errors"`
}

func newConfigStatus(reg prometheus.Registerer, src, name string) *configStatus {
	s := &configStatus{source: src, name: name, now: time.Now,
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "sluice_config_reloads_total",
			Help: "Configuration versions read after the start, by source and result: applied, refused (an error in the text; the running configuration keeps serving) or error (the source could not be read)."},
			[]string{"source", "result"}),
		info: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "sluice_config_info",
			Help: "1 for the configuration that serves, labelled with its source and the SHA-256 of its text."},
			[]string{"source", "hash"}),
		lastReload: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_config_last_reload_timestamp_seconds",
			Help: "When the configuration that serves was applied (Unix time)."}),
		index: prometheus.NewGauge(prometheus.GaugeOpts{Name: "sluice_config_index",
			Help: "The Consul KV ModifyIndex of the configuration that serves; 0 for a file."}),
		watchErrors: prometheus.NewCounter(prometheus.CounterOpts{Name: "sluice_config_watch_errors_total",
			Help: "Failed reads of the configuration source by its watch (a Consul KV query that failed, fsnotify errors)."}),
	}
	for _, r := range []string{reloadApplied, reloadRefused, reloadError} {
		s.reloads.WithLabelValues(src, r) // present at zero, so that rate() and alerts see them
	}
	reg.MustRegister(s.reloads, s.info, s.lastReload, s.index, s.watchErrors)
	return s
}

// setWatch records how the source is watched.
func (s *configStatus) setWatch(mode string) {
	s.mu.Lock()
	s.watch.Mode = mode
	s.mu.Unlock()
}

// start records the version the gateway started with.
func (s *configStatus) start(hash string, index uint64) { s.apply(hash, index, false) }

// apply records a version applied, of which the settings named by
// pending wait for a restart; counted as a reload unless it is the start.
func (s *configStatus) apply(hash string, index uint64, reload bool, pending ...string) {
	now := s.now()
	s.mu.Lock()
	s.applied = configVersion{Hash: hash, Index: index, At: now, RestartRequired: pending}
	s.refused = nil
	s.mu.Unlock()
	s.info.Reset()
	s.info.WithLabelValues(s.source, hash).Set(1)
	s.lastReload.Set(float64(now.UnixNano()) / 1e9)
	s.index.Set(float64(index))
	if reload {
		s.reloads.WithLabelValues(s.source, reloadApplied).Inc()
	}
}

// refuse records a version refused (result reloadRefused) or unreadable
// (reloadError).
func (s *configStatus) refuse(result, hash string, index uint64, err error) {
	s.mu.Lock()
	s.refused = &configVersion{Hash: hash, Index: index, At: s.now(), Error: err.Error()}
	s.mu.Unlock()
	s.reloads.WithLabelValues(s.source, result).Inc()
}

// current returns the hash of the version that serves and of the latest
// refused one ("" when none).
func (s *configStatus) current() (applied, refused string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.refused != nil {
		refused = s.refused.Hash
	}
	return s.applied.Hash, refused
}

// sameIndex records that the version at index has the text already
// serving (a push of the same file), so /admin/config shows the newest
// index.
func (s *configStatus) sameIndex(index uint64) {
	s.mu.Lock()
	s.applied.Index = index
	s.mu.Unlock()
	s.index.Set(float64(index))
}

// clearRefused forgets the latest refusal, when the source holds the
// version that serves again (a bad edit reverted, a file emptied then
// written back the same): /admin/config would otherwise go on showing an
// error the source no longer has. It reports whether there was one.
func (s *configStatus) clearRefused() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	had := s.refused != nil
	s.refused = nil
	return had
}

// watchError records a failed read of the watch; watchOK its recovery.
func (s *configStatus) watchError(err error) {
	s.watchErrors.Inc()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watch.LastError, s.watch.Errors = err.Error(), s.watch.Errors+1
	if s.watch.FailingSince.IsZero() {
		s.watch.FailingSince = s.now()
	}
}

func (s *configStatus) watchOK() {
	s.mu.Lock()
	s.watch.LastError, s.watch.FailingSince = "", time.Time{}
	s.mu.Unlock()
}

// ServeHTTP answers GET /admin/config.
func (s *configStatus) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	s.mu.Lock()
	out := struct {
		Source  string         `json:"source"`
		Name    string         `json:"name"`
		Applied configVersion  `json:"applied"`
		Refused *configVersion `json:"refused,omitempty"`
		Watch   watchState     `json:"watch"`
	}{s.source, s.name, s.applied, s.refused, s.watch}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// appliedIndex returns the Consul KV index of the version that serves.
func (s *configStatus) appliedIndex() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applied.Index
}
