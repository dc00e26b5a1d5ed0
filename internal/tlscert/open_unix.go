//go:build unix

package tlscert

import (
	"os"
	"syscall"
)

// openNoWait opens name for reading without waiting: a named pipe with no
// writer would otherwise hold the open itself. ReadFile then checks what
// it opened.
func openNoWait(name string) (*os.File, error) {
	return os.OpenFile(name, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
