package proc

import (
	"os/exec"
	"syscall"
)

// tieToParent makes the kernel kill the process should the test binary die
// without its cleanups (a -timeout panic), so nothing is left listening.
func tieToParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
