package resp

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/redcon"
)

// oneByteReader returns its input one byte per Read, to exercise every
// split point of the framing state machine.
type oneByteReader struct{ b []byte }

func (r *oneByteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	p[0] = r.b[0]
	r.b = r.b[1:]
	return 1, nil
}

// readAll parses every command from input through a limitReader and
// returns the commands (space-joined args) and the final error.
func readAll(input string, chunked bool, maxBulk, maxArgs int) ([]string, error) {
	var src io.Reader = strings.NewReader(input)
	if chunked {
		src = &oneByteReader{b: []byte(input)}
	}
	rd := redcon.NewReader(newLimitReader(src, maxBulk, maxArgs))
	var cmds []string
	for {
		cmd, err := rd.ReadCommand()
		if err != nil {
			return cmds, err
		}
		cmds = append(cmds, string(bytes.Join(cmd.Args, []byte(" "))))
	}
}

func TestLimitReader(t *testing.T) {
	big := strings.Repeat("x", 100)
	tests := []struct {
		name    string
		input   string
		want    []string
		wantErr string // "" means io.EOF
	}{
		{"resp", "*2\r\n$4\r\nPING\r\n$2\r\nhi\r\n*1\r\n$4\r\nPING\r\n", []string{"PING hi", "PING"}, ""},
		{"inline", "PING\r\nsentinel masters\n\r\n", []string{"PING", "sentinel masters"}, ""},
		{"bulk at limit", "*2\r\n$4\r\nECHO\r\n$100\r\n" + big + "\r\n", []string{"ECHO " + big}, ""},
		{"bulk with CRLF inside", "*2\r\n$4\r\nECHO\r\n$4\r\na\r\nb\r\n", []string{"ECHO a\r\nb"}, ""},
		{"bulk too big", "*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$101\r\n" + big + "x\r\n",
			[]string{"PING"}, "Protocol error: invalid bulk length"},
		{"args at limit", "*4\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n$1\r\nd\r\n", []string{"a b c d"}, ""},
		{"too many args", "PING\r\n*5\r\n", []string{"PING"}, "Protocol error: invalid multibulk length"},
		{"huge announced bulk", "*1\r\n$999999999999\r\n", nil, "Protocol error: invalid bulk length"},
		{"endless count", "*" + strings.Repeat("1", 40), nil, "Protocol error: too big mbulk count string"},
		{"endless bulk len", "*1\r\n$" + strings.Repeat("1", 40), nil, "Protocol error: too big bulk count string"},
		{"endless inline", strings.Repeat("a", maxInline+1), nil, "Protocol error: too big inline request"},
		{"request too big (4 args)", "*4\r\n$100\r\n" + big + "\r\n$100\r\n" + big + "\r\n$100\r\n" + big + "\r\n$100\r\n",
			nil, "Protocol error: too big request"},
		{"blank line flood", strings.Repeat("\r\n", maxInline/2+1), nil, "Protocol error: too big inline request"},
		{"CR inside a line is an argument", "\r\r\n", []string{"\r"}, ""},
		{"blank lines then command", strings.Repeat(" \r\n", 1000) + "PING\r\n", []string{"PING"}, ""},
		{"redcon: missing $", "*1\r\n+foo\r\n", nil, "Protocol error: expected '$', got '+'"},
		{"redcon: bad count", "*x\r\n", nil, "Protocol error: invalid multibulk length"},
		{"redcon: unbalanced quotes", "SET \"a\r\n", nil, "Protocol error: unbalanced quotes in request"},
	}
	for _, tt := range tests {
		for _, chunked := range []bool{false, true} {
			got, err := readAll(tt.input, chunked, 100, 4)
			if strings.Join(got, "|") != strings.Join(tt.want, "|") {
				t.Errorf("%s (chunked=%v): commands %q, want %q", tt.name, chunked, got, tt.want)
			}
			switch {
			case tt.wantErr == "" && !errors.Is(err, io.EOF):
				t.Errorf("%s (chunked=%v): err %v, want EOF", tt.name, chunked, err)
			case tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr):
				t.Errorf("%s (chunked=%v): err %v, want %q", tt.name, chunked, err, tt.wantErr)
			case tt.wantErr != "" && !isProtocolError(err):
				t.Errorf("%s (chunked=%v): %v not classified as a protocol error", tt.name, chunked, err)
			}
		}
	}
}

// TestLimitReaderBatches checks that input dripped a byte at a time reaches
// redcon in full buffers or at request boundaries, not byte by byte.
func TestLimitReaderBatches(t *testing.T) {
	body := strings.Repeat("x", 20000)
	input := "*1\r\n$4\r\nPING\r\nPING\r\n*2\r\n$4\r\nECHO\r\n$20000\r\n" + body + "\r\n"
	l := newLimitReader(&oneByteReader{b: []byte(input)}, 1<<20, 1024)
	var sizes []int
	p := make([]byte, 4096)
	for {
		n, err := l.Read(p)
		if err != nil {
			break
		}
		sizes = append(sizes, n)
	}
	// PING (14 bytes), inline PING (6), then the ECHO request in 4096-byte
	// chunks and its tail.
	want := []int{14, 6}
	rest := len(input) - 20
	for rest > 0 {
		want = append(want, min(rest, 4096))
		rest -= 4096
	}
	if fmt.Sprint(sizes) != fmt.Sprint(want) {
		t.Fatalf("read sizes %v, want %v", sizes, want)
	}
}

// FuzzReadCommand feeds arbitrary bytes through the limitReader and redcon:
// parsing must end in commands and an error, never a panic or a hang, and
// no command may exceed the argument-count limit (an inline request, which
// redcon turns into the same form, is bounded by maxInline instead of
// maxBulk).
func FuzzReadCommand(f *testing.F) {
	for _, seed := range []string{
		"*2\r\n$4\r\nPING\r\n$2\r\nhi\r\n", "PING\r\n", "*1\r\n$-1\r\n", "*-1\r\n", "*0\r\n",
		"\"a\" 'b'\r\n", "*3\r\n$1\r\na\r\n", "$5\r\nhello\r\n", "\r\n\r\n*1\r\n$1\r\nx\r\n",
	} {
		f.Add([]byte(seed), false)
	}
	f.Fuzz(func(t *testing.T, input []byte, chunked bool) {
		var src io.Reader = bytes.NewReader(input)
		if chunked {
			src = &oneByteReader{b: input}
		}
		rd := redcon.NewReader(newLimitReader(src, 64, 8))
		for i := 0; ; i++ {
			cmd, err := rd.ReadCommand()
			if err != nil {
				return
			}
			if i > len(input) {
				t.Fatal("more commands than input bytes")
			}
			if len(cmd.Args) > 8 {
				t.Fatalf("%d args passed the limit", len(cmd.Args))
			}
			for _, a := range cmd.Args {
				// bulks are bounded by maxBulk, inline lines by maxInline
				if len(a) > maxInline {
					t.Fatalf("argument of %d bytes passed the limits", len(a))
				}
			}
		}
	})
}

// TestLimitReaderReturnsAtBoundary checks that a complete request is handed
// on at once, without waiting for more input.
func TestLimitReaderReturnsAtBoundary(t *testing.T) {
	for _, in := range []string{"*1\r\n$4\r\nPING\r\n", "PING\r\n", "\r\r\n", "  x \n", "\"\"\r\n"} {
		pr, pw := io.Pipe()
		l := newLimitReader(pr, 1<<20, 1024)
		got := make(chan int, 1)
		go func() {
			n, _ := l.Read(make([]byte, 4096))
			got <- n
		}()
		if _, err := pw.Write([]byte(in)); err != nil {
			t.Fatal(err)
		}
		select {
		case n := <-got:
			if n != len(in) {
				t.Errorf("%q: Read returned %d bytes", in, n)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%q: Read waited for more input after a complete request", in)
		}
		pw.Close()
		pr.Close()
	}
}
