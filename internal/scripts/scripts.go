// Package scripts runs Sentinel's user scripts (notification-script,
// client-reconfig-script) with Redis Sentinel's rules (src/sentinel.c,
// "SCRIPTS EXECUTION" in sentinel.conf):
//
//   - at most MaxRunning (16) scripts run at once; at most MaxQueue (256)
//     wait, and when the queue is full the oldest job that is not running
//     is dropped (or, if all are running, the new one);
//   - a script runs at most MaxRuntime (60 s); then it is killed (SIGKILL)
//     and handled as if it had exited with 1;
//   - exit code 1, or death by a signal, retries it, up to MaxRetries (10)
//     times, after RetryDelay (30 s) doubled for every further retry;
//   - exit code 2 or higher, or a script that cannot be started, is not
//     retried.
//
// Scripts inherit the environment and get /dev/null as stdin; their
// output is logged (first 4 KiB) when they fail. No file descriptor of the
// monitor leaks into them: Go opens every descriptor close-on-exec and
// os/exec passes only stdin, stdout and stderr.
package scripts

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/options"
)

// Sentinel's limits, the defaults of Options.
const (
	DefaultMaxRunning = 16
	DefaultMaxQueue   = 256
	DefaultMaxRuntime = 60 * time.Second
	DefaultMaxRetries = 10
	DefaultRetryDelay = 30 * time.Second
)

// Options configure a Runner; zero values take Sentinel's values (see
// DefaultOptions).
type Options struct {
	MaxRunning int           // default 16
	MaxQueue   int           // default 256
	MaxRuntime time.Duration // default 60s
	MaxRetries int           // default 10
	RetryDelay time.Duration // default 30s
	Logger     *slog.Logger
	// OnDone, if set, is called after every run with its outcome (tests,
	// metrics). It must not block.
	OnDone func(Result)
}

// Result is the outcome of one run of a script.
type Result struct {
	Path     string
	Args     []string
	ExitCode int  // -1: killed by a signal or not started
	Retry    bool // scheduled again
	Err      error
}

type job struct {
	path      string
	args      []string
	retries   int
	notBefore time.Time
	running   bool
	pid       int
	started   time.Time
}

// Job describes a queued or running script (SENTINEL PENDING-SCRIPTS).
type Job struct {
	Path     string
	Args     []string
	Running  bool
	Pid      int           // 0 unless running
	RunTime  time.Duration // running: since it started
	RunDelay time.Duration // waiting: until it may start (0: due)
	Retries  int
}

// Jobs lists the queued and running scripts, oldest first.
func (r *Runner) Jobs() []Job {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Job, 0, len(r.q))
	for _, j := range r.q {
		x := Job{Path: j.path, Args: j.args, Running: j.running, Retries: j.retries}
		if j.running {
			x.Pid = j.pid
			if !j.started.IsZero() { // zero while being started
				x.RunTime = now.Sub(j.started)
			}
		} else if d := j.notBefore.Sub(now); d > 0 {
			x.RunDelay = d
		}
		out = append(out, x)
	}
	return out
}

// Runner queues and runs scripts. Schedule is safe for concurrent use.
type Runner struct {
	opt  Options
	log  *slog.Logger
	mu   sync.Mutex
	q    []*job
	wake chan struct{}
	wg   sync.WaitGroup
}

// DefaultOptions are Sentinel's limits (src/sentinel.c
// SENTINEL_SCRIPT_MAX_*).
func DefaultOptions() Options {
	return Options{MaxRunning: DefaultMaxRunning, MaxQueue: DefaultMaxQueue, MaxRuntime: DefaultMaxRuntime,
		MaxRetries: DefaultMaxRetries, RetryDelay: DefaultRetryDelay}
}

// Validate reports options no runner can run with (zero values are
// defaults, not errors; negative ones are).
func (o Options) Validate() error {
	if err := options.NonNegative("scripts", options.F("MaxRunning", o.MaxRunning), options.F("MaxQueue", o.MaxQueue),
		options.F("MaxRetries", o.MaxRetries)); err != nil {
		return err
	}
	return options.NonNegative("scripts", options.F("MaxRuntime", o.MaxRuntime), options.F("RetryDelay", o.RetryDelay))
}

// withDefaults fills in the zero (or negative) options.
func (o Options) withDefaults() Options {
	d := DefaultOptions()
	options.Default(&o.MaxRunning, d.MaxRunning)
	options.Default(&o.MaxQueue, d.MaxQueue)
	options.Default(&o.MaxRuntime, d.MaxRuntime)
	options.Default(&o.MaxRetries, d.MaxRetries)
	options.Default(&o.RetryDelay, d.RetryDelay)
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o
}

// New returns a Runner; call Run to execute what is scheduled.
func New(opt Options) *Runner {
	opt = opt.withDefaults()
	return &Runner{opt: opt, log: opt.Logger.With("component", "scripts"), wake: make(chan struct{}, 1)}
}

// SetLimits changes MaxRuntime and RetryDelay at run time (SENTINEL DEBUG
// SCRIPT-MAX-RUNTIME and SCRIPT-RETRY-DELAY); a value <= 0 keeps that one.
// Runs started later, and retries scheduled later, use the new values.
func (r *Runner) SetLimits(maxRuntime, retryDelay time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if maxRuntime > 0 {
		r.opt.MaxRuntime = maxRuntime
	}
	if retryDelay > 0 {
		r.opt.RetryDelay = retryDelay
	}
}

// Limits returns the current MaxRuntime and RetryDelay.
func (r *Runner) Limits() (maxRuntime, retryDelay time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.opt.MaxRuntime, r.opt.RetryDelay
}

// Schedule queues path with args. It reports false when the job was
// dropped because the queue is full of running jobs.
func (r *Runner) Schedule(path string, args ...string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.q) >= r.opt.MaxQueue {
		dropped := false
		for i, j := range r.q {
			if !j.running {
				r.log.Warn("script queue full: dropped the oldest pending script", "script", j.path, "args", j.args)
				r.q = append(r.q[:i], r.q[i+1:]...)
				dropped = true
				break
			}
		}
		if !dropped {
			r.log.Warn("script queue full of running scripts: not queued", "script", path, "args", args)
			return false
		}
	}
	r.q = append(r.q, &job{path: path, args: args})
	r.poke()
	return true
}

// Pending returns how many jobs are queued or running.
func (r *Runner) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.q)
}

func (r *Runner) poke() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run starts due jobs until ctx is done, then kills running scripts and
// waits for them.
func (r *Runner) Run(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		r.startDue(ctx)
		select {
		case <-ctx.Done():
			r.wg.Wait()
			return
		case <-t.C:
		case <-r.wake:
		}
	}
}

func (r *Runner) startDue(ctx context.Context) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	running := 0
	for _, j := range r.q {
		if j.running {
			running++
		}
	}
	for _, j := range r.q {
		if running >= r.opt.MaxRunning {
			return
		}
		if j.running || now.Before(j.notBefore) {
			continue
		}
		j.running = true
		running++
		r.wg.Add(1)
		go r.exec(ctx, j)
	}
}

// exec runs one job and reschedules or removes it.
func (r *Runner) exec(ctx context.Context, j *job) {
	defer r.wg.Done()
	maxRuntime, _ := r.Limits()
	rctx, cancel := context.WithTimeout(ctx, maxRuntime)
	cmd := exec.CommandContext(rctx, j.path, j.args...)
	var out limitedBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second
	err := cmd.Start()
	if err == nil {
		r.mu.Lock()
		j.pid, j.started = cmd.Process.Pid, time.Now()
		r.mu.Unlock()
		err = cmd.Wait()
	}
	timedOut := rctx.Err() == context.DeadlineExceeded
	cancel()

	res := Result{Path: j.path, Args: j.args, ExitCode: -1, Err: err}
	retry := false
	var ee *exec.ExitError
	switch {
	case err == nil:
		res.ExitCode = 0
	case errors.As(err, &ee):
		ws, _ := ee.Sys().(syscall.WaitStatus)
		switch {
		case ws.Signaled() || timedOut:
			retry = true // as exit code 1
		default:
			res.ExitCode = ws.ExitStatus()
			retry = res.ExitCode == 1
		}
	default:
		// Not started (missing, not executable): Sentinel's child exits
		// with 2 when execve fails, which is not retried.
	}
	r.mu.Lock()
	if retry && j.retries < r.opt.MaxRetries && ctx.Err() == nil {
		j.retries++
		delay := r.opt.RetryDelay
		for n := j.retries; n > 1; n-- {
			delay *= 2
		}
		j.notBefore = time.Now().Add(delay)
		j.running, j.pid = false, 0
		res.Retry = true
	} else {
		for i, x := range r.q {
			if x == j {
				r.q = append(r.q[:i], r.q[i+1:]...)
				break
			}
		}
	}
	r.mu.Unlock()
	if err != nil {
		r.log.Warn("script failed", "script", j.path, "args", j.args, "exit_code", res.ExitCode, "timed_out", timedOut,
			"retry", res.Retry, "err", err, "output", out.String())
	}
	if r.opt.OnDone != nil {
		r.opt.OnDone(res)
	}
	r.poke()
}

// limitedBuffer keeps the first 4 KiB written to it.
type limitedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *limitedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if room := 4096 - l.b.Len(); room > 0 {
		l.b.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

func (l *limitedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
