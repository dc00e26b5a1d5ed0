package tlscert_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice/internal/tlscert"
)

// TestReadFile: a regular file within the limit is read whole; one past
// it, a named pipe and a device are refused, and promptly.
func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	name := func(s string) string { return filepath.Join(dir, s) }
	if err := os.WriteFile(name("ok.pem"), []byte("12345678"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(name("pipe.pem"), 0o600); err != nil {
		t.Skipf("no named pipes here: %v", err)
	}
	if err := os.Symlink("/dev/zero", name("zero.pem")); err != nil {
		t.Fatal(err)
	}
	if data, err := tlscert.ReadFile(name("ok.pem"), 8); err != nil || string(data) != "12345678" {
		t.Errorf("a file at the limit: %q, %v", data, err)
	}
	for _, tt := range []struct {
		file  string
		limit int64
		want  string
	}{
		{"ok.pem", 7, "larger than 7 bytes"},
		{"pipe.pem", 1 << 20, "not a regular file"},
		{"zero.pem", 1 << 20, "not a regular file"},
		{"absent.pem", 1 << 20, "no such file"},
	} {
		done := make(chan error, 1)
		go func() {
			_, err := tlscert.ReadFile(name(tt.file), tt.limit)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%s: %v, want …%s…", tt.file, err, tt.want)
			}
		case <-time.After(waitLimit):
			t.Fatalf("%s: not returned after %v", tt.file, waitLimit)
		}
	}
}
