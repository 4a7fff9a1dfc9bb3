package benchutil

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/raftsentinel/raftsentinel/internal/redisproc"
)

// ModulePath is the module whose cmd/raftsentinel the benchmarks build.
const ModulePath = "github.com/raftsentinel/raftsentinel"

// NeedRedis returns the error of the first of the Redis executables
// ("redis-server", "redis-sentinel", "redis-benchmark", …) that
// [redisproc.Binary] cannot find, with installation advice, or nil.
func NeedRedis(names ...string) error {
	for _, name := range names {
		if _, err := redisproc.Binary(name); err != nil {
			return err
		}
	}
	return nil
}

// RepoRoot walks up from the working directory to the root of
// [ModulePath] (where `go run` runs when invoked by make). The error says
// to run from the repository.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for d := dir; ; d = filepath.Dir(d) {
		data, err := os.ReadFile(filepath.Join(d, "go.mod"))
		if err == nil && bytes.Contains(data, []byte("module "+ModulePath+"\n")) {
			return d, nil
		}
		if filepath.Dir(d) == d {
			return "", fmt.Errorf("no go.mod of %s above %s: run from the repository", ModulePath, dir)
		}
	}
}

// GoTool is the go command: $GOROOT/bin/go when `go run` set GOROOT (the
// toolchain running us), else go from PATH.
func GoTool() string {
	if root := os.Getenv("GOROOT"); root != "" {
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return "go"
}

// Workspace is a benchmark's temporary working directory, holding a
// raftsentinel binary freshly built from the repository's source (and,
// below it, whatever the benchmark writes: configs, data, logs).
type Workspace struct {
	Root  string // the module root the binary was built from
	GoBin string // the go command that built it (see GoTool)
	Dir   string // the working directory
	Bin   string // the built binary, Dir/raftsentinel

	keep bool
	w    io.Writer
}

// NewWorkspace finds the module root ([RepoRoot]), creates a directory
// prefix* in the system's temporary directory and builds ./cmd/raftsentinel
// into it with [GoTool], after telling w "building <module>/cmd/raftsentinel
// ...". The caller must Close the returned workspace. On error nothing is
// left to close: a directory created before a failed build is already
// closed (removed, or reported to w when keep).
func NewWorkspace(ctx context.Context, w io.Writer, prefix string, keep bool) (*Workspace, error) {
	root, err := RepoRoot()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return nil, fmt.Errorf("working directory: %w", err)
	}
	ws := &Workspace{Root: root, GoBin: GoTool(), Dir: dir, Bin: filepath.Join(dir, "raftsentinel"), keep: keep, w: w}
	fmt.Fprintf(w, "building %s/cmd/raftsentinel ...\n", ModulePath)
	build := exec.CommandContext(ctx, ws.GoBin, "build", "-o", ws.Bin, "./cmd/raftsentinel")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		ws.Close()
		return nil, fmt.Errorf("go build ./cmd/raftsentinel: %w\n%s", err, out)
	}
	return ws, nil
}

// Close removes the working directory or, when it is to be kept, tells w
// "working directory kept: <dir>" after an empty line.
func (ws *Workspace) Close() {
	if ws.keep {
		fmt.Fprintf(ws.w, "\nworking directory kept: %s\n", ws.Dir)
		return
	}
	os.RemoveAll(ws.Dir)
}

// PrintLines writes an empty line, then each line of lines, to w.
func PrintLines(w io.Writer, lines []string) {
	fmt.Fprintln(w)
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
}

// WriteReport prints the report (see [PrintLines]) and, when out is not
// empty, also writes it to the file out, one line each, and tells w
// "report written to <out>" after an empty line.
func WriteReport(w io.Writer, report []string, out string) error {
	PrintLines(w, report)
	if out == "" {
		return nil
	}
	if err := os.WriteFile(out, []byte(strings.Join(report, "\n")+"\n"), 0o644); err != nil {
		return fmt.Errorf("write -out file: %w", err)
	}
	fmt.Fprintf(w, "\nreport written to %s\n", out)
	return nil
}
