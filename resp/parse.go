package resp

import "strconv"

// The request parser of the event loop: it works on a buffer of received
// bytes, returns the arguments as sub-slices of that buffer (no copy, no
// allocation for RESP arrays; inline requests, which are rare, allocate)
// and reports errors with redcon's (that is, Redis') texts, so both
// transports answer malformed input the same way. Limits are not its
// concern: the limitReader state machine vets the bytes first.

var (
	errInvalidMultibulk = &protocolError{"invalid multibulk length"}
	errInvalidBulk      = &protocolError{"invalid bulk length"}
	errUnbalancedQuotes = &protocolError{"unbalanced quotes in request"}
)

// parseCommand parses the first request in b. It returns the request's
// arguments (appended to args[:0]; they alias b, except inline ones), the
// number of bytes it took (0 with a nil error: the request is incomplete)
// and a *protocolError for malformed input. A blank inline line is a
// request of no arguments (n > 0, no args), which the caller skips.
func parseCommand(b []byte, args [][]byte) ([][]byte, int, error) {
	args = args[:0]
	if len(b) == 0 {
		return args, 0, nil
	}
	if b[0] != '*' {
		return parseInline(b, args)
	}
	i := indexLF(b, 1)
	if i < 0 {
		return args, 0, nil
	}
	if b[i-1] != '\r' {
		return args, 0, errInvalidMultibulk
	}
	count, ok := atoi(b[1 : i-1])
	if !ok || count <= 0 {
		return args, 0, errInvalidMultibulk
	}
	pos := i + 1
	for j := 0; j < count; j++ {
		if pos >= len(b) {
			return args, 0, nil
		}
		if b[pos] != '$' {
			return args, 0, &protocolError{"expected '$', got '" + string(b[pos]) + "'"}
		}
		e := indexLF(b, pos+1)
		if e < 0 {
			return args, 0, nil
		}
		if b[e-1] != '\r' {
			return args, 0, errInvalidBulk
		}
		size, ok := atoi(b[pos+1 : e-1])
		if !ok || size < 0 {
			return args, 0, errInvalidBulk
		}
		if e+size+2 >= len(b) {
			return args, 0, nil
		}
		if b[e+size+1] != '\r' || b[e+size+2] != '\n' {
			return args, 0, errInvalidBulk
		}
		args = append(args, b[e+1:e+1+size:e+1+size])
		pos = e + size + 3
	}
	return args, pos, nil
}

// indexLF returns the index of the first '\n' in b at or after from, or -1.
func indexLF(b []byte, from int) int {
	for i := from; i < len(b); i++ {
		if b[i] == '\n' {
			return i
		}
	}
	return -1
}

// atoi parses a decimal number with strconv.Atoi's syntax (as redcon), but
// without allocating for the common short, valid case.
func atoi(b []byte) (int, bool) {
	if n := len(b); n > 0 && n < 10 {
		v := 0
		for _, c := range b {
			if c < '0' || c > '9' {
				goto slow
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
slow:
	v, err := strconv.Atoi(string(b))
	return v, err == nil
}

// parseInline parses a telnet-style line: arguments separated by spaces,
// double- or single-quoted arguments with \n, \r and \t escapes in them, a
// quote only at the start of an argument (redcon's rules).
func parseInline(b []byte, args [][]byte) ([][]byte, int, error) {
	i := indexLF(b, 0)
	if i < 0 {
		return args, 0, nil
	}
	line := b[:i]
	if i > 0 && b[i-1] == '\r' {
		line = b[:i-1]
	}
	var quote bool
	var quotech byte
	var escape bool
outer:
	for {
		nline := make([]byte, 0, len(line))
		for k := 0; k < len(line); k++ {
			c := line[k]
			if !quote {
				if c == ' ' {
					if len(nline) > 0 {
						args = append(args, nline)
					}
					line = line[k+1:]
					continue outer
				}
				if c == '"' || c == '\'' {
					if k != 0 {
						return args[:0], 0, errUnbalancedQuotes
					}
					quotech, quote = c, true
					line = line[k+1:]
					continue outer
				}
			} else {
				if escape {
					escape = false
					switch c {
					case 'n':
						c = '\n'
					case 'r':
						c = '\r'
					case 't':
						c = '\t'
					}
				} else if c == quotech {
					quote, quotech = false, 0
					args = append(args, nline)
					line = line[k+1:]
					if len(line) > 0 && line[0] != ' ' {
						return args[:0], 0, errUnbalancedQuotes
					}
					continue outer
				} else if c == '\\' {
					escape = true
					continue
				}
			}
			nline = append(nline, c)
		}
		if quote {
			return args[:0], 0, errUnbalancedQuotes
		}
		if len(line) > 0 {
			args = append(args, append([]byte(nil), line...))
		}
		break
	}
	return args, i + 1, nil
}
