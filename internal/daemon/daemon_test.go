package daemon

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunIDStableAndValidated(t *testing.T) {
	dir := t.TempDir()
	a, err := loadRunID(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 40 || strings.Trim(a, "0123456789abcdef") != "" {
		t.Fatalf("run id %q is not 40 hex", a)
	}
	b, err := loadRunID(dir)
	if err != nil || b != a {
		t.Fatalf("second load %q %v, want %q", b, err, a)
	}
	if err := os.WriteFile(filepath.Join(dir, "myid"), []byte("zz\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadRunID(dir); err == nil || !strings.Contains(err.Error(), "not a 40-hex id") {
		t.Fatalf("corrupt myid: %v", err)
	}
}
