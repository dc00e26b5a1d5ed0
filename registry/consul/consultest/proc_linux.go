package consultest

import (
	"os/exec"
	"syscall"
)

// tieToParent makes the kernel kill the agent if the test binary dies without
// running its cleanups (a -timeout panic, say), so agents do not leak.
func tieToParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
