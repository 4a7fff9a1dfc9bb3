//go:build linux

package benchutil

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

// pingEvery and pingTimeout pace [Proc.WaitPing]: the pause between two
// tries and the bound of one.
const (
	pingEvery   = 20 * time.Millisecond
	pingTimeout = 300 * time.Millisecond
)

// OwnGroup makes cmd, which must come from exec.CommandContext and not be
// started yet, run in a process group of its own, SIGKILLed as a whole when
// cmd's context ends and (Pdeathsig) SIGKILLed when the thread that
// started it dies, as when this program dies. waitDelay bounds the wait
// for its output after that (exec.Cmd.WaitDelay).
func OwnGroup(cmd *exec.Cmd, waitDelay time.Duration) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return KillGroup(cmd.Process.Pid) }
	cmd.WaitDelay = waitDelay
}

// KillGroup sends SIGKILL to the process group pid; a group that is gone
// already is no error.
func KillGroup(pid int) error {
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill process group %d: %w", pid, err)
	}
	return nil
}

// Proc is one long-running child process (a raftsentinel monitor) in its
// own process group, its output going to a log file. Its methods are safe
// for concurrent use.
type Proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has been reaped
	log  *os.File
}

// StartProc runs bin with args, its standard output and error going to a
// new file logPath. The process group is killed when ctx ends, on Kill,
// and (see [OwnGroup]) when this program dies. The caller must Kill a
// returned Proc.
func StartProc(ctx context.Context, bin string, args []string, logPath string) (*Proc, error) {
	f, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("create log: %w", err)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	OwnGroup(cmd, 2*time.Second)
	if err := cmd.Start(); err != nil {
		f.Close()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &Proc{cmd: cmd, done: make(chan struct{}), log: f}
	go func() {
		_ = cmd.Wait() // killed: an exit status is expected
		close(p.done)
	}()
	return p, nil
}

// Pid is the process id, or 0 once the process has exited.
func (p *Proc) Pid() int {
	select {
	case <-p.done:
		return 0
	default:
		return p.cmd.Process.Pid
	}
}

// Kill sends SIGKILL to the process group (unless the process has exited
// already), waits until the process is reaped and closes its log. Call it
// once.
func (p *Proc) Kill() error {
	var err error
	select {
	case <-p.done:
	default:
		err = KillGroup(p.cmd.Process.Pid)
		<-p.done
	}
	return errors.Join(err, p.log.Close())
}

// WaitPing waits until addr answers PING, polling (see [Poll]) within
// timeout and ctx. When the process exits first it fails at once, with the
// exit status and the whole log in the error.
func (p *Proc) WaitPing(ctx context.Context, addr string, timeout time.Duration) error {
	return Poll(ctx, timeout, pingEvery, func() error {
		select {
		case <-p.done:
			data, _ := os.ReadFile(p.log.Name())
			return Permanent(fmt.Errorf("process exited (%s); output:\n%s", p.cmd.ProcessState, data))
		default:
		}
		pctx, cancel := context.WithTimeout(ctx, pingTimeout)
		defer cancel()
		_, err := redisproc.Command(pctx, addr, "PING")
		return err
	})
}
