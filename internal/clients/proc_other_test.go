//go:build !linux

package clients

import "syscall"

// procAttr: no parent-death signal outside Linux; the test's cleanup and
// context timeout still kill every client subprocess.
func procAttr() *syscall.SysProcAttr { return nil }
