package resp

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/tidwall/redcon"
)

// parseAll runs parseCommand over input until it is incomplete or fails:
// the commands (space-joined args; blank inline lines skipped), the bytes
// left and the error.
func parseAll(input []byte) (cmds []string, rest int, err error) {
	var args [][]byte
	for {
		a, n, err := parseCommand(input, args)
		args = a[:0]
		if err != nil || n == 0 {
			return cmds, len(input), err
		}
		if len(a) > 0 {
			cmds = append(cmds, string(bytes.Join(a, []byte(" "))))
		}
		input = input[n:]
	}
}

func TestParseCommand(t *testing.T) {
	for _, tc := range []struct {
		in   string
		cmds []string
		rest int
		err  string
	}{
		{"*2\r\n$4\r\nECHO\r\n$3\r\nabc\r\n", []string{"ECHO abc"}, 0, ""},
		{"*2\r\n$4\r\nECHO\r\n$3\r\nab", nil, 20, ""},
		{"*1\r\n$0\r\n\r\nPING\r\n", []string{"", "PING"}, 0, ""},
		{"PING  a 'b c' \"d\\ne\"\r\n\r\n\n", []string{"PING a b c d\ne"}, 0, ""},
		{"PING", nil, 4, ""},
		{"*1\r\n+foo\r\n", nil, 10, "Protocol error: expected '$', got '+'"},
		{"*0\r\n", nil, 4, "Protocol error: invalid multibulk length"},
		{"*x\r\n", nil, 4, "Protocol error: invalid multibulk length"},
		{"*1\n$1\r\na\r\n", nil, 10, "Protocol error: invalid multibulk length"},
		{"*1\r\n$-1\r\n", nil, 9, "Protocol error: invalid bulk length"},
		{"*1\r\n$1\r\nabc\r\n", nil, 13, "Protocol error: invalid bulk length"},
		{"GET \"a\"b\r\n", nil, 10, "Protocol error: unbalanced quotes in request"},
		{"GET a\"b\"\r\n", nil, 10, "Protocol error: unbalanced quotes in request"},
		{"PING\r\n*1\r\n$1\r\nx", []string{"PING"}, 9, ""},
	} {
		cmds, rest, err := parseAll([]byte(tc.in))
		gotErr := ""
		if err != nil {
			gotErr = err.Error()
		}
		if strings.Join(cmds, "|") != strings.Join(tc.cmds, "|") || rest != tc.rest || gotErr != tc.err {
			t.Errorf("%q: got %q, %d left, %q; want %q, %d left, %q", tc.in, cmds, rest, gotErr, tc.cmds, tc.rest, tc.err)
		}
	}
}

func TestParseCommandDoesNotAllocate(t *testing.T) {
	req := []byte("*3\r\n$8\r\nSENTINEL\r\n$23\r\nget-master-addr-by-name\r\n$8\r\nmymaster\r\n")
	args := make([][]byte, 0, 8)
	if n := testing.AllocsPerRun(100, func() { args, _, _ = parseCommand(req, args) }); n != 0 {
		t.Fatalf("%v allocations per request", n)
	}
}

// FuzzParseCommand checks parseCommand against redcon's parser, which the
// goroutine transport uses: the same commands and the same error text.
// (redcon drops the commands it parsed from the same read before an error,
// so its commands need only be a prefix of ours then.)
func FuzzParseCommand(f *testing.F) {
	for _, seed := range []string{
		"*2\r\n$4\r\nPING\r\n$2\r\nhi\r\n", "PING\r\n", "*1\r\n$-1\r\n", "*-1\r\n", "*0\r\n",
		"\"a\" 'b'\r\n", "*3\r\n$1\r\na\r\n", "$5\r\nhello\r\n", "\r\n\r\n*1\r\n$1\r\nx\r\n",
		"PING \"a\\tb\" 'c'\r\nECHO x\n", "*1\r\n$3\r\nabcd\r\n", "*1\r\n$+3\r\nabc\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		// Both parsers sit behind the server's limits (limitReader), which
		// refuse oversized headers before any parser sees them; redcon has
		// no limits of its own and would try to allocate what "*6666666666660"
		// announces, killing the fuzz worker. Compare within the limits only.
		if _, err := io.ReadAll(newLimitReader(bytes.NewReader(input), defaultMaxBulk, defaultMaxArgs)); err != nil {
			return
		}
		ours, _, oerr := parseAll(input)
		rd := redcon.NewReader(bytes.NewReader(input))
		var theirs []string
		var rerr error
		for {
			cmd, err := rd.ReadCommand()
			if err != nil {
				rerr = err
				break
			}
			theirs = append(theirs, string(bytes.Join(cmd.Args, []byte(" "))))
		}
		if errors.Is(rerr, io.EOF) {
			if oerr != nil || strings.Join(ours, "\x00") != strings.Join(theirs, "\x00") || len(ours) != len(theirs) {
				t.Fatalf("%q: ours %q (%v), redcon %q", input, ours, oerr, theirs)
			}
			return
		}
		if oerr == nil || oerr.Error() != rerr.Error() || len(theirs) > len(ours) {
			t.Fatalf("%q: ours %q (%v), redcon %q (%v)", input, ours, oerr, theirs, rerr)
		}
		for i := range theirs {
			if theirs[i] != ours[i] {
				t.Fatalf("%q: command %d: ours %q, redcon %q", input, i, ours[i], theirs[i])
			}
		}
	})
}
