//go:build linux

package benchutil

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestProcKill(t *testing.T) {
	dir := t.TempDir()
	// The shell's child sleep is in the same process group: Kill reaches it.
	p, err := StartProc(context.Background(), "sh", []string{"-c", "sleep 30 & wait"}, filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Pid() == 0 {
		t.Fatal("Pid 0 of a running process")
	}
	start := time.Now()
	if err := p.Kill(); err != nil {
		t.Fatalf("Kill: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Kill took %s", d)
	}
	if p.Pid() != 0 {
		t.Error("Pid not 0 after Kill")
	}
}

func TestProcWaitPingExited(t *testing.T) {
	dir := t.TempDir()
	p, err := StartProc(context.Background(), "sh", []string{"-c", "echo boom; exit 3"}, filepath.Join(dir, "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer p.Kill()
	// Nothing listens on port 1; the exit, not the timeout, ends the wait.
	start := time.Now()
	err = p.WaitPing(context.Background(), "127.0.0.1:1", time.Minute)
	if err == nil || !strings.Contains(err.Error(), "process exited (exit status 3)") || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("WaitPing = %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("WaitPing took %s", d)
	}
}

func TestUsageReaders(t *testing.T) {
	m, err := ReadMemory(os.Getpid())
	if err != nil || m.RSS <= 0 || m.HWM < m.RSS {
		t.Fatalf("ReadMemory(self) = %+v, %v", m, err)
	}
	if _, err := ReadMemory(0); err == nil {
		t.Fatal("ReadMemory(0): no error")
	}
	// This test has run, so its process has spent time on a CPU.
	if d, err := RunTime(os.Getpid()); err != nil || d <= 0 {
		t.Fatalf("RunTime(self) = %v, %v", d, err)
	}
	if _, err := RunTime(0); err == nil {
		t.Fatal("RunTime(0): no error")
	}
}
