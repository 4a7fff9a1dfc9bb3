//go:build linux

package benchutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// RunTime is the time the threads of process pid now alive have spent on
// a CPU, in nanoseconds, from /proc/<pid>/task/*/schedstat (the 10 ms
// ticks of /proc/<pid>/stat are too coarse for an idle Sentinel, which
// uses ~2 ms per second). A thread that ends between the listing and the
// read is left out; a pid without threads (gone, or 0) is an error.
func RunTime(pid int) (time.Duration, error) {
	files, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil {
		return 0, fmt.Errorf("list threads of %d: %w", pid, err)
	}
	if len(files) == 0 {
		return 0, fmt.Errorf("no /proc/%d/task/*/schedstat (process gone?)", pid)
	}
	var sum time.Duration
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			if os.IsNotExist(err) {
				continue // the thread ended meanwhile
			}
			return 0, err
		}
		fields := strings.Fields(string(data))
		if len(fields) != 3 {
			return 0, fmt.Errorf("%s: %q: want 3 fields", f, data)
		}
		ns, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", f, err)
		}
		sum += time.Duration(ns)
	}
	return sum, nil
}

// Memory is a process's resident set, in KiB.
type Memory struct {
	RSS, HWM int64 // VmRSS, VmHWM (peak)
}

// ReadMemory reads VmRSS and VmHWM from /proc/<pid>/status. Pid 0 (a
// process not running, see [Monitor.Pid]) and a status without VmRSS are
// errors.
func ReadMemory(pid int) (Memory, error) {
	if pid == 0 {
		return Memory{}, errors.New("process not running")
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return Memory{}, err
	}
	var m Memory
	for _, line := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmRSS":
			dst = &m.RSS
		case "VmHWM":
			dst = &m.HWM
		default:
			continue
		}
		f := strings.Fields(v)
		if len(f) != 2 || f[1] != "kB" {
			return Memory{}, fmt.Errorf("/proc/%d/status: %s: %q", pid, k, v)
		}
		if *dst, err = strconv.ParseInt(f[0], 10, 64); err != nil {
			return Memory{}, fmt.Errorf("/proc/%d/status: %s: %w", pid, k, err)
		}
	}
	if m.RSS == 0 {
		return Memory{}, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
	}
	return m, nil
}
