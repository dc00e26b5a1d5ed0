package upstream

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
	"time"
)

// TestLocalFailuresAreNoNodesFault: a dial that failed for want of a
// descriptor, socket memory or an ephemeral port is Local, however the
// transport wraps it, and counts against no node; a refused or unreachable
// node's dial, and errors of the same numbers outside a dial, are not.
func TestLocalFailuresAreNoNodesFault(t *testing.T) {
	dialErr := func(e error) error {
		return fmt.Errorf("h1: dial: %w: %w", &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("socket", e)}, errors.New("nothing written"))
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tt := range []struct {
		name string
		err  error
		want Outcome
	}{
		{"EMFILE", dialErr(syscall.EMFILE), Local},
		{"ENFILE", dialErr(syscall.ENFILE), Local},
		{"ENOBUFS", dialErr(syscall.ENOBUFS), Local},
		{"EADDRNOTAVAIL", dialErr(syscall.EADDRNOTAVAIL), Local},
		{"refused", dialErr(syscall.ECONNREFUSED), NotSent},
		{"a read's ENOBUFS", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ENOBUFS)}, Failed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := classify(ctx, time.Time{}, nil, tt.err, time.Minute, time.Millisecond)
			if o != tt.want {
				t.Fatalf("classify = %v, want %v", o, tt.want)
			}
			if o == Local && (o.Fault() || refused(tt.err)) {
				t.Fatal("a local failure counts against the node")
			}
		})
	}
}
