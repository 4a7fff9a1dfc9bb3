// Package sentinelconf reads and writes Redis sentinel.conf files as Redis
// does: SplitLine splits a line into arguments (sdssplitargs), Quote writes
// one argument so that SplitLine reads it back unchanged, and Render
// rewrites a file from the replicated state as Sentinel rewrites its own.
// It knows the file's syntax and Sentinel's directives, not raftsentinel's
// configuration (package config maps the directives onto it).
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
	isBlank := func(ch byte) bool {
		return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f' || ch == 0
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
			switch ch := line[i]; ch {
			case '"':
				i++
				for {
					if i >= len(line) {
						return nil, fmt.Errorf("unbalanced quotes")
					}
					c := line[i]
					if c == '"' {
						break
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
						switch c {
						case 'n':
							c = '\n'
						case 'r':
							c = '\r'
						case 't':
							c = '\t'
						case 'b':
							c = '\b'
						case 'a':
							c = '\a'
						}
					}
					cur.WriteByte(c)
					i++
				}
				i++ // the closing quote
				if i < len(line) && !isBlank(line[i]) {
					return nil, fmt.Errorf("closing quote must be followed by a space")
				}
			case '\'':
				i++
				for {
					if i >= len(line) {
						return nil, fmt.Errorf("unbalanced quotes")
					}
					c := line[i]
					if c == '\'' {
						break
					}
					if c == '\\' && i+1 < len(line) && line[i+1] == '\'' {
						i++
						c = '\''
					}
					cur.WriteByte(c)
					i++
				}
				i++
				if i < len(line) && !isBlank(line[i]) {
					return nil, fmt.Errorf("closing quote must be followed by a space")
				}
			default:
				cur.WriteByte(ch)
				i++
			}
		}
		args = append(args, cur.String())
	}
	return args, nil
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
