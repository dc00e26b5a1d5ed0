//go:build !linux

package chaos

import "os/exec"

// tieToParent is a no-op where the kernel offers no parent-death signal.
func tieToParent(*exec.Cmd) {}
