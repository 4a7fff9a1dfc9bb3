//go:build integration

package clients

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// debugEnv, when set, echoes the subprocess clients' stdout to stderr.
const debugEnv = "CLIENTS_DEBUG"

// procTimeout bounds a client subprocess' whole life.
const procTimeout = 3 * time.Minute

// procClient is a client library running in a subprocess that speaks the
// line protocol of python/redispy_failover.py and node/lib.mjs.
type procClient struct {
	name    string
	p       progress
	stdin   io.WriteCloser
	cancel  context.CancelFunc
	exited  chan struct{} // closed once the process is reaped
	waitErr error         // valid after exited
	stderr  tail

	mu       sync.Mutex
	stopping bool   // stop was called
	done     bool   // it printed {"ev":"done"}
	fatal    string // its {"ev":"fatal"} message
	stopOnce sync.Once
	stopErr  error
}

// startProc starts argv in dir. The process is killed at the latest when
// t ends or after procTimeout.
func startProc(t *testing.T, dir string, argv ...string) *procClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), procTimeout)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.SysProcAttr = procAttr()
	cmd.WaitDelay = 5 * time.Second
	pc := &procClient{name: strings.Join(argv, " "), cancel: cancel, exited: make(chan struct{})}
	cmd.Stderr = &pc.stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start %s: %v", pc.name, err)
	}
	pc.stdin = stdin
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			pc.handle(sc.Text())
		}
		_, _ = io.Copy(io.Discard, stdout)
		pc.waitErr = cmd.Wait()
		close(pc.exited)
	}()
	t.Cleanup(func() {
		cancel()
		<-pc.exited
	})
	return pc
}

// event is one line of the protocol.
type event struct {
	Ev    string `json:"ev"`
	N     int    `json:"n"`
	After bool   `json:"after"`
	Msg   string `json:"msg"`
	Phase string `json:"phase"`
	OK    bool   `json:"ok"`
	Addr  string `json:"addr"`
	Role  string `json:"role"`
	Key   string `json:"key"`
	Last  int    `json:"last"`
}

func (pc *procClient) handle(line string) {
	if os.Getenv(debugEnv) != "" {
		fmt.Fprintln(os.Stderr, "DBG", line)
	}
	var e event
	if err := json.Unmarshal([]byte(line), &e); err != nil {
		pc.p.log("stdout: " + line)
		return
	}
	switch e.Ev {
	case "ack":
		pc.p.ack(e.N, e.After)
	case "err":
		pc.p.fail(e.Msg)
	case "replica":
		pc.p.read(replicaRead{Phase: e.Phase, Addr: e.Addr, Role: e.Role, Key: e.Key, OK: e.OK, Msg: e.Msg})
		pc.p.log(line)
	case "done":
		pc.mu.Lock()
		pc.done = true
		pc.mu.Unlock()
	case "fatal":
		pc.mu.Lock()
		pc.fatal = e.Msg
		pc.mu.Unlock()
		pc.p.log("fatal: " + e.Msg)
	default:
		pc.p.log(e.Msg)
	}
}

func (pc *procClient) progress() *progress { return &pc.p }

func (pc *procClient) send(word string) error {
	if _, err := io.WriteString(pc.stdin, word+"\n"); err != nil {
		return fmt.Errorf("%s: tell %q: %w", pc.name, word, err)
	}
	return nil
}

func (pc *procClient) killed() error { return pc.send("killed") }

func (pc *procClient) readReplica(string, string) {}

// stop tells the client to stop and waits (bounded) for a clean exit.
func (pc *procClient) stop() error {
	pc.stopOnce.Do(func() {
		pc.mu.Lock()
		pc.stopping = true
		pc.mu.Unlock()
		if err := pc.send("stop"); err != nil {
			pc.stopErr = pc.failure(err.Error())
			return
		}
		select {
		case <-pc.exited:
		case <-time.After(30 * time.Second):
			pc.cancel()
			<-pc.exited
			pc.stopErr = pc.failure("did not exit within 30 s of stop")
			return
		}
		pc.mu.Lock()
		done := pc.done
		pc.mu.Unlock()
		if pc.waitErr != nil || !done {
			pc.stopErr = pc.failure(fmt.Sprintf("exit: %v, done reported: %v", pc.waitErr, done))
		}
	})
	return pc.stopErr
}

// alive fails t when the process has exited before stop.
func (pc *procClient) alive(t *testing.T) {
	t.Helper()
	pc.mu.Lock()
	stopping := pc.stopping
	pc.mu.Unlock()
	if stopping {
		return
	}
	select {
	case <-pc.exited:
		t.Fatal(pc.failure(fmt.Sprintf("exited early: %v", pc.waitErr)))
	default:
	}
}

// failure describes what went wrong with the output that explains it
// (runFailover adds the client's log).
func (pc *procClient) failure(what string) error {
	pc.mu.Lock()
	fatal := pc.fatal
	pc.mu.Unlock()
	return fmt.Errorf("%s: %s\nfatal: %s\nstderr:\n%s\n%s",
		pc.name, what, fatal, pc.stderr.String(), pc.p.errorSummary())
}

func lastN(xs []string, n int) []string {
	if len(xs) > n {
		return xs[len(xs)-n:]
	}
	return xs
}

// tail keeps the last 8 KiB written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 8<<10 {
		t.buf = t.buf[len(t.buf)-8<<10:]
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// runTool runs a short command and returns its stdout; the error carries
// stderr.
func runTool(ctx context.Context, dir string, argv ...string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	cmd.SysProcAttr = procAttr()
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) || stderr.Len() > 0 {
			err = fmt.Errorf("%s: %w\n%s%s", strings.Join(argv, " "), err, stdout.String(), stderr.String())
		}
	}
	return stdout.String(), err
}

// lookPath finds a program or returns an error with install advice.
func lookPath(name, advice string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found in PATH (%s): %s", name, os.Getenv("PATH"), advice)
	}
	return p, nil
}
