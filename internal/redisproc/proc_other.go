//go:build unix && !linux

package redisproc

import "syscall"

// sysProcAttr puts the server in its own process group so Kill reaches any
// child it forked.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
