//go:build linux

package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/redisproc"
)

// proc is one raftsentinel process in its own process group.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// startProc runs bin with args, its output going to logPath. The process
// is killed when ctx ends, when kill is called, and (Pdeathsig) when this
// program dies.
func startProc(ctx context.Context, bin string, args []string, logPath string) (*proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create log: %w", err)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return killGroup(cmd.Process.Pid) }
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{}), log: f}
	go func() {
		_ = cmd.Wait() // killed: an exit status is expected
		close(p.done)
	}()
	return p, nil
}

// kill sends SIGKILL to the process group and waits until it is reaped.
func (p *proc) kill() error {
	var err error
	select {
	case <-p.done:
	default:
		err = killGroup(p.cmd.Process.Pid)
		<-p.done
	}
	return errors.Join(err, p.log.Close())
}

func killGroup(pid int) error {
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill process group %d: %w", pid, err)
	}
	return nil
}

// waitPing waits until addr answers PING, failing early if the process
// exits.
func (p *proc) waitPing(ctx context.Context, addr string, timeout time.Duration) error {
	return poll(ctx, timeout, func() error {
		select {
		case <-p.done:
			data, _ := os.ReadFile(p.log.Name())
			return permanent{fmt.Errorf("process exited (%s); output:\n%s", p.cmd.ProcessState, data)}
		default:
		}
		cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
		defer cancel()
		_, err := redisproc.Command(cctx, addr, "PING")
		return err
	})
}

// permanent marks an error poll must not retry.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// poll calls fn until it succeeds, returns a permanent error, timeout
// passes (then the last error is returned) or ctx ends.
func poll(ctx context.Context, timeout time.Duration, fn func() error) error {
	deadline := time.Now().Add(timeout)
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
		err := fn()
		if err == nil {
			return nil
		}
		var p permanent
		if errors.As(err, &p) || time.Now().After(deadline) {
			return err
		}
		t.Reset(50 * time.Millisecond)
	}
}
