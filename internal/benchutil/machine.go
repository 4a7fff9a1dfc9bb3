package benchutil

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/raftsentinel/raftsentinel/internal/redisproc"
)

// MachineLines describe the machine the numbers come from, one "key: value"
// line each: nproc, CPU, kernel, go (the output of goBin version), then
// "<tool>: <tool --version>" for each of redisTools, in that order. A value
// that cannot be found reads "unknown (why)".
func MachineLines(ctx context.Context, goBin string, redisTools ...string) []string {
	lines := []string{
		"nproc: " + CmdOutput(ctx, "nproc"),
		"CPU: " + CPUModel(),
		"kernel: " + CmdOutput(ctx, "uname", "-r"),
		"go: " + CmdOutput(ctx, goBin, "version"),
	}
	for _, t := range redisTools {
		lines = append(lines, t+": "+CmdOutput(ctx, t, "--version"))
	}
	return lines
}

// CmdOutput is the trimmed standard output of a command, or
// "unknown (name: error)". A name starting with "redis-" is looked up as
// [redisproc.Binary] does.
func CmdOutput(ctx context.Context, name string, args ...string) string {
	if strings.HasPrefix(name, "redis-") {
		if p, err := redisproc.Binary(name); err == nil {
			name = p
		}
	}
	out, err := exec.CommandContext(ctx, name, args...).Output()
	if err != nil {
		return fmt.Sprintf("unknown (%s: %v)", name, err)
	}
	return strings.TrimSpace(string(out))
}

// CPUModel is the first "model name" of /proc/cpuinfo, or "unknown (why)".
func CPUModel() string {
	data, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return fmt.Sprintf("unknown (%v)", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown (no model name in /proc/cpuinfo)"
}

// LogTail is the last lines of the log file at path, for a report: a
// header "    [label: path]", then each line indented by six spaces; or
// "    [label] log unreadable: error" when the file cannot be read.
func LogTail(label, path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("    [%s] log unreadable: %v\n", label, err)
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	var b strings.Builder
	fmt.Fprintf(&b, "    [%s: %s]\n", label, path)
	for _, l := range all {
		fmt.Fprintf(&b, "      %s\n", l)
	}
	return b.String()
}

// SourceVersion is the commit the repository at root has checked out,
// "commit <short hash>", with " with uncommitted changes" when tracked
// files differ from it; "unknown commit (git: error)" without git.
func SourceVersion(ctx context.Context, root string) string {
	head, err := exec.CommandContext(ctx, "git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return fmt.Sprintf("unknown commit (git: %v)", err)
	}
	v := "commit " + strings.TrimSpace(string(head))
	status, err := exec.CommandContext(ctx, "git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output()
	if err == nil && len(bytes.TrimSpace(status)) > 0 {
		v += " with uncommitted changes"
	}
	return v
}

// LoadAverage is the first three fields of /proc/loadavg, or
// "unknown (why)".
func LoadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return fmt.Sprintf("unknown (%v)", err)
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
