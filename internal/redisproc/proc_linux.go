//go:build linux

package redisproc

import "syscall"

// sysProcAttr puts the server in its own process group (so Kill reaches any
// child it forked) and asks the kernel to SIGKILL it when the thread that
// started it dies, so a crashed test does not leak servers. (The Go runtime
// only retires a thread when a goroutine exits while locked to it, which
// nothing here does.)
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
