// Package sentinelconf reads and writes Redis sentinel.conf files as Redis
// does. Reading: SplitLine splits a line into arguments (sdssplitargs), and
// Parse reads a whole file into a typed File through a table of directives,
// one small function each. Writing: Quote writes one argument so that
// SplitLine reads it back unchanged, and Render rewrites a file from the
// replicated state as Sentinel rewrites its own; Parse reads what Render
// writes back as that state. It knows the file's syntax and Sentinel's
// directives, not raftsentinel's configuration: package config turns a
// File into its Config. See DESIGN.md.
package sentinelconf

import (
	"fmt"
	"strconv"
	"strings"
)

// SplitLine splits a Redis configuration line into arguments as Redis
// does (sdssplitargs): blanks separate arguments; "double quotes" group and
// take the escapes \xHH, \n, \r, \t, \b, \a and \<any char>; 'single
// quotes' group and take \'; a closing quote must be followed by a blank or
// the end of the line. A line whose first non-blank character is # is a
// comment; elsewhere # is an ordinary character (an ACL "#<sha256>"
// password, a password containing #), as in Redis.
func SplitLine(line string) ([]string, error) {
	if t := strings.TrimLeft(line, " \t\r\n"); strings.HasPrefix(t, "#") {
		return nil, nil
	}
	var args []string
	for i := 0; i < len(line); {
		for i < len(line) && isBlank(line[i]) {
			i++
		}
		if i == len(line) {
			break
		}
		var cur strings.Builder
		for i < len(line) && !isBlank(line[i]) {
			var err error
			switch ch := line[i]; ch {
			case '"':
				i, err = readDoubleQuoted(line, i+1, &cur)
			case '\'':
				i, err = readSingleQuoted(line, i+1, &cur)
			default:
				cur.WriteByte(ch)
				i++
			}
			if err != nil {
				return nil, err
			}
		}
		args = append(args, cur.String())
	}
	return args, nil
}

func isBlank(ch byte) bool {
	return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f' || ch == 0
}

// doubleQuoteEscapes are the one-letter escapes of a double-quoted
// argument; \<any other char> is that char.
var doubleQuoteEscapes = map[byte]byte{'n': '\n', 'r': '\r', 't': '\t', 'b': '\b', 'a': '\a'}

// readDoubleQuoted reads a double-quoted argument's text from line[i:]
// (after the opening quote) into cur, and returns the index after the
// closing quote.
func readDoubleQuoted(line string, i int, cur *strings.Builder) (int, error) {
	for {
		if i >= len(line) {
			return 0, fmt.Errorf("unbalanced quotes")
		}
		c := line[i]
		if c == '"' {
			return closeQuote(line, i+1)
		}
		if c == '\\' && i+3 < len(line) && line[i+1] == 'x' && isHex(line[i+2]) && isHex(line[i+3]) {
			v, _ := strconv.ParseUint(line[i+2:i+4], 16, 8)
			cur.WriteByte(byte(v))
			i += 4
			continue
		}
		if c == '\\' && i+1 < len(line) {
			i++
			c = line[i]
			if e, ok := doubleQuoteEscapes[c]; ok {
				c = e
			}
		}
		cur.WriteByte(c)
		i++
	}
}

// readSingleQuoted reads a single-quoted argument's text (where only \'
// is an escape) as readDoubleQuoted does.
func readSingleQuoted(line string, i int, cur *strings.Builder) (int, error) {
	for {
		if i >= len(line) {
			return 0, fmt.Errorf("unbalanced quotes")
		}
		c := line[i]
		if c == '\'' {
			return closeQuote(line, i+1)
		}
		if c == '\\' && i+1 < len(line) && line[i+1] == '\'' {
			i++
			c = '\''
		}
		cur.WriteByte(c)
		i++
	}
}

// closeQuote checks that a closing quote, before line[i], is followed by a
// blank or the end of the line.
func closeQuote(line string, i int) (int, error) {
	if i < len(line) && !isBlank(line[i]) {
		return 0, fmt.Errorf("closing quote must be followed by a space")
	}
	return i, nil
}

func isHex(ch byte) bool {
	return ('0' <= ch && ch <= '9') || ('a' <= ch && ch <= 'f') || ('A' <= ch && ch <= 'F')
}

// Quote writes s as one sentinel.conf argument that SplitLine reads back as
// s: as it is when it is not empty and has no blank, quote, backslash or
// control byte; else double-quoted, with every such byte (and every byte
// outside printable ASCII) as \xHH.
func Quote(s string) string {
	plain := s != ""
	for i := 0; i < len(s) && plain; i++ {
		c := s[i]
		plain = c > ' ' && c < 0x7f && c != '"' && c != '\'' && c != '\\'
	}
	if plain {
		return s
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < ' ' || c >= 0x7f || c == '"' || c == '\\' {
			fmt.Fprintf(&b, "\\x%02x", c)
			continue
		}
		b.WriteByte(c)
	}
	b.WriteByte('"')
	return b.String()
}
