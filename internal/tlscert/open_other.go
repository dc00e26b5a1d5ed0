//go:build !unix

package tlscert

import "os"

// openNoWait opens name for reading (see open_unix.go).
func openNoWait(name string) (*os.File, error) { return os.Open(name) }
