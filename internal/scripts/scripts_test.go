package scripts

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/testing/wait"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// script writes an executable shell script into dir.
func script(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

type results struct {
	mu  sync.Mutex
	all []Result
	ch  chan Result
}

func newResults() *results { return &results{ch: make(chan Result, 64)} }
func (r *results) add(x Result) {
	r.mu.Lock()
	r.all = append(r.all, x)
	r.mu.Unlock()
	r.ch <- x
}

// next waits for the next result (deadline, not a sleep).
func (r *results) next(t *testing.T) Result {
	t.Helper()
	select {
	case x := <-r.ch:
		return x
	case <-time.After(20 * time.Second):
		t.Fatal("no script result within 20s")
		return Result{}
	}
}

func start(t *testing.T, opt Options) (*Runner, *results) {
	t.Helper()
	res := newResults()
	opt.OnDone = res.add
	r := New(opt)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return r, res
}

func count(t *testing.T, p string) int {
	b, _ := os.ReadFile(p)
	return strings.Count(string(b), "\n")
}

// TestRetriesOnExitOneOnly: exit 1 is retried (with a doubling delay) until
// success; exit 2 is not retried; a script that cannot start is not
// retried; retries stop at MaxRetries.
func TestRetriesOnExitOneOnly(t *testing.T) {
	dir := t.TempDir()
	runs := filepath.Join(dir, "runs")
	flaky := script(t, dir, "flaky.sh", `echo x >> `+runs+`; n=$(wc -l < `+runs+`); [ "$n" -ge 3 ] && exit 0; exit 1`)
	r, res := start(t, Options{RetryDelay: 20 * time.Millisecond, MaxRetries: 3})
	r.Schedule(flaky)
	for _, want := range []struct {
		code  int
		retry bool
	}{{1, true}, {1, true}, {0, false}} {
		got := res.next(t)
		if got.ExitCode != want.code || got.Retry != want.retry {
			t.Fatalf("run: exit %d retry %v, want %d %v", got.ExitCode, got.Retry, want.code, want.retry)
		}
	}
	if n := count(t, runs); n != 3 {
		t.Fatalf("%d runs, want 3", n)
	}

	runs2 := filepath.Join(dir, "runs2")
	r.Schedule(script(t, dir, "two.sh", "echo x >> "+runs2+"; exit 2"))
	if got := res.next(t); got.ExitCode != 2 || got.Retry {
		t.Fatalf("exit 2: %+v", got)
	}
	r.Schedule(filepath.Join(dir, "missing.sh"))
	if got := res.next(t); got.Retry || got.Err == nil {
		t.Fatalf("missing script: %+v", got)
	}

	runs3 := filepath.Join(dir, "runs3")
	r.Schedule(script(t, dir, "one.sh", "echo x >> "+runs3+"; exit 1"))
	for i := 0; i < 4; i++ {
		got := res.next(t)
		if got.Retry != (i < 3) {
			t.Fatalf("run %d of an always-failing script: retry %v", i+1, got.Retry)
		}
	}
	if n := count(t, runs3); n != 4 || count(t, runs2) != 1 {
		t.Fatalf("always-failing script ran %d times (want 1+3 retries); exit-2 script %d (want 1)", n, count(t, runs2))
	}
	if r.Pending() != 0 {
		t.Fatalf("%d jobs left", r.Pending())
	}
}

// TestTimeLimitKillsAndRetries: a script running past MaxRuntime is killed
// and retried as if it had exited with 1.
func TestTimeLimitKillsAndRetries(t *testing.T) {
	dir := t.TempDir()
	r, res := start(t, Options{MaxRuntime: 200 * time.Millisecond, RetryDelay: time.Hour})
	began := time.Now()
	r.Schedule(script(t, dir, "slow.sh", "exec sleep 30"))
	got := res.next(t)
	if !got.Retry || got.ExitCode != -1 || time.Since(began) > 10*time.Second {
		t.Fatalf("slow script: %+v after %v", got, time.Since(began))
	}
}

// TestNoDescriptorLeaks: the descriptors this process opens (a file, a
// listening socket) do not reach the script: it sees stdin, stdout,
// stderr, the directory ls itself opens, and only those descriptors this
// process inherited without close-on-exec from whoever started it.
func TestNoDescriptorLeaks(t *testing.T) {
	dir := t.TempDir()
	f, err := os.Create(filepath.Join(dir, "held-open"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	allowed := map[string]bool{"0": true, "1": true, "2": true, "3": true}
	ents, err := os.ReadDir("/proc/self/fdinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile("/proc/self/fdinfo/" + e.Name())
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "flags:"); ok {
				flags, _ := strconv.ParseUint(strings.TrimSpace(v), 8, 64)
				if flags&0o2000000 == 0 { // not O_CLOEXEC: inherited as such
					allowed[e.Name()] = true
				}
			}
		}
	}
	if allowed[strconv.Itoa(int(f.Fd()))] {
		t.Fatal("the test's own file is not close-on-exec: the check would prove nothing")
	}
	out := filepath.Join(dir, "fds")
	r, res := start(t, Options{})
	r.Schedule(script(t, dir, "fds.sh", "exec ls -1 /proc/self/fd > "+out))
	if got := res.next(t); got.ExitCode != 0 {
		t.Fatalf("fds.sh: %+v", got)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	fds := strings.Fields(string(b))
	if len(fds) < 3 {
		t.Fatalf("script listed %q", fds)
	}
	for _, s := range fds {
		if !allowed[s] {
			t.Fatalf("descriptor %s of this process is open in the script (script sees %q, allowed %v)", s, fds, allowed)
		}
	}
}

// TestQueueLimitAndConcurrency: at most MaxRunning run at once; a full
// queue drops its oldest waiting job, and refuses when all are running.
func TestQueueLimitAndConcurrency(t *testing.T) {
	dir := t.TempDir()
	gate := filepath.Join(dir, "gate")
	block := script(t, dir, "block.sh", `while [ ! -e `+gate+` ]; do sleep 0.02; done; echo "$1" >> `+filepath.Join(dir, "ran"))
	r, res := start(t, Options{MaxRunning: 1, MaxQueue: 2})
	if !r.Schedule(block, "a") || !r.Schedule(block, "b") {
		t.Fatal("schedule refused below the limit")
	}
	wait.True(t, 10*time.Second, "first job started", func() bool {
		jobs := r.Jobs()
		return len(jobs) > 0 && jobs[0].Pid != 0
	})
	if !r.Schedule(block, "c") { // drops b (waiting)
		t.Fatal("schedule refused with a waiting job to drop")
	}
	if jobs := r.Jobs(); len(jobs) != 2 || !jobs[0].Running || jobs[0].Pid == 0 || jobs[0].Args[0] != "a" ||
		jobs[1].Running || jobs[1].Args[0] != "c" {
		t.Fatalf("jobs %+v, want a running and c scheduled", jobs)
	}
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	res.next(t)
	res.next(t)
	b, _ := os.ReadFile(filepath.Join(dir, "ran"))
	if got := strings.Fields(string(b)); len(got) != 2 || got[0] != "a" || got[1] != "c" {
		t.Fatalf("ran %q, want a then c (b dropped, one at a time)", got)
	}
}

// TestSetLimits: limits changed at run time (SENTINEL DEBUG SCRIPT-*) apply
// to the next run and the next retry delay.
func TestSetLimits(t *testing.T) {
	dir := t.TempDir()
	r, res := start(t, Options{MaxRuntime: time.Hour, RetryDelay: time.Hour})
	r.SetLimits(200*time.Millisecond, 0)
	if rt, rd := r.Limits(); rt != 200*time.Millisecond || rd != time.Hour {
		t.Fatalf("Limits() = %v, %v", rt, rd)
	}
	r.SetLimits(0, 100*time.Millisecond)
	began := time.Now()
	r.Schedule(script(t, dir, "slow.sh", "exec sleep 30"))
	first := res.next(t) // killed at 200 ms, retried after 100 ms
	second := res.next(t)
	if !first.Retry || !second.Retry || time.Since(began) > 10*time.Second {
		t.Fatalf("runs %+v %+v after %v", first, second, time.Since(began))
	}
}
