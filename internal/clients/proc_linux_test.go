//go:build linux

package clients

import "syscall"

// procAttr asks the kernel to SIGKILL a client subprocess when the thread
// that started it dies, so a crashed test binary leaves no client behind.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
