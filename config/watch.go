package config

import "time"

// Watch says how the gateway follows changes of its configuration source
// (a file, with fsnotify; a Consul KV key, with blocking queries). It takes
// effect when the gateway starts. SIGHUP reloads whatever it says.
type Watch struct {
	// Disabled turns watching off: the configuration is read again only on
	// SIGHUP.
	Disabled bool `yaml:"disabled"`
	// Debounce is how long after the last change in a configuration file's
	// directory the gateway reads the file; changes that never pause that
	// long are read source.MaxDebounces times it after the first. Zero
	// means source.DefaultDebounce (200ms). Consul KV changes are read at
	// once.
	Debounce time.Duration `yaml:"debounce"`
}
