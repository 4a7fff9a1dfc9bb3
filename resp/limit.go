package resp

import "io"

// protocolError is a malformed or oversized request. Its text follows
// Redis ("Protocol error: ..."); the server replies "-ERR " + text and
// closes the connection.
type protocolError struct{ msg string }

func (e *protocolError) Error() string { return "Protocol error: " + e.msg }

// maxInline is the longest inline (telnet-style) request line, as Redis'
// PROTO_INLINE_MAX_SIZE.
const maxInline = 64 * 1024

// maxHeader bounds the length of a "*<n>" or "$<n>" header line.
const maxHeader = 32

// limitReader sits between the connection and redcon's Reader, which has no
// limits of its own: it would buffer any announced bulk length, and it
// rescans (and recurses once) per Read that completes no command, so input
// dripped a byte per packet costs it quadratic time and deep stacks. The
// limitReader follows the request framing byte by byte (array headers, bulk
// headers, bulk bodies, inline lines) without copying, and
//
//   - fails the stream when a header announces more than maxArgs arguments
//     or a bulk longer than maxBulk, when one request exceeds 4×maxBulk in
//     total, when inline input without a command (a long line, or many
//     blank ones) exceeds maxInline, or when a header line is too long;
//   - hands data to redcon only at a request boundary or in chunks as large
//     as redcon asks for (4 KiB and up), so redcon's rescans and recursion
//     are bounded by request size / 4 KiB whatever the packet sizes.
//
// On a violation Read first returns the bytes before the offending one (so
// complete commands already received still run, in order) and then the
// *protocolError. Framing it cannot follow (for example a missing '$') is
// passed through untouched: redcon reports that error itself, from bytes
// that are already complete, so nothing unbounded is buffered.
//
// A limitReader is used by one goroutine.
type limitReader struct {
	r       io.Reader
	maxBulk int64
	maxArgs int64
	maxReq  int64

	st         int
	line       []byte // header digits being collected
	junk       int    // inline bytes since the last inline line with a command
	productive bool   // the current inline line has a non-blank byte
	cr         bool   // the previous inline byte was '\r'
	args       int64  // arguments left in the current array
	body       int64  // bytes left in the current bulk, CRLF included
	req        int64  // bytes of the current array request so far
	fatal      error
}

const (
	stStart   = iota // before the first byte of a request
	stInline         // inside an inline line
	stCount          // inside "*<n>\r\n"
	stBulk           // expecting '$'
	stBulkLen        // inside "$<n>\r\n"
	stBody           // inside a bulk body
	stPass           // framing lost; redcon will report the error
)

func newLimitReader(r io.Reader, maxBulk, maxArgs int) *limitReader {
	return &limitReader{r: r, maxBulk: int64(maxBulk), maxArgs: int64(maxArgs),
		maxReq: 4 * int64(maxBulk), line: make([]byte, 0, maxHeader)}
}

// Read implements io.Reader. It returns once p is full, a request boundary
// was passed, or the underlying reader failed.
func (l *limitReader) Read(p []byte) (int, error) {
	if l.fatal != nil {
		return 0, l.fatal
	}
	n := 0
	for n < len(p) {
		m, err := l.r.Read(p[n:])
		k, boundary, perr := l.scan(p[n : n+m])
		n += k
		if perr != nil {
			err = perr
		}
		if err != nil {
			if n == 0 {
				l.fatal = err
				return 0, err
			}
			l.fatal = err // reported by the next call
			return n, nil
		}
		if boundary || l.st == stPass {
			break
		}
	}
	return n, nil
}

// scan advances the framing state over b. It reports how many bytes of b
// may be passed on, whether a request boundary was passed, and a violation.
func (l *limitReader) scan(b []byte) (int, bool, error) {
	boundary := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch l.st {
		case stStart:
			if c == '*' {
				l.st, l.line, l.req = stCount, l.line[:0], 1
				continue
			}
			l.st, l.productive, l.cr = stInline, false, false
			i-- // handle c as part of the inline line
		case stInline:
			passed, err := l.inline(c)
			if err != nil {
				return i, boundary, err
			}
			boundary = boundary || passed
		case stCount, stBulkLen:
			if err := l.header(c); err != nil {
				return i, boundary, err
			}
		case stBulk:
			l.req++
			if c != '$' {
				l.st = stPass
				continue
			}
			l.st, l.line = stBulkLen, l.line[:0]
		case stBody:
			skip := min(l.body, int64(len(b)-i))
			l.body -= skip
			l.req += skip
			i += int(skip) - 1
			if l.body == 0 {
				l.args--
				if l.args == 0 {
					l.st, l.junk, boundary = stStart, 0, true
				} else {
					l.st = stBulk
				}
			}
		case stPass:
			return len(b), boundary, nil
		}
	}
	return len(b), boundary, nil
}

// inline advances over byte c of an inline request line; passed reports
// the end of a line that held an argument (a request boundary).
func (l *limitReader) inline(c byte) (passed bool, err error) {
	l.junk++
	if l.junk > maxInline {
		return false, &protocolError{"too big inline request"}
	}
	// redcon splits lines on ' ' and strips one '\r' before the '\n'; any
	// other byte (an earlier '\r' too) makes an argument.
	if l.cr && c != '\n' {
		l.productive = true
	}
	l.cr = c == '\r'
	switch c {
	case '\n':
		l.st = stStart
		if l.productive {
			l.junk, passed = 0, true
		}
	case ' ', '\r':
	default:
		l.productive = true
	}
	return passed, nil
}

// header advances over byte c of a "*<count>" or "$<len>" line; at its end
// it checks the number against the limits and moves to the next state (a
// malformed number is passed on for the parser to reject).
func (l *limitReader) header(c byte) error {
	l.req++
	if c != '\n' {
		if len(l.line) >= maxHeader {
			if l.st == stCount {
				return &protocolError{"too big mbulk count string"}
			}
			return &protocolError{"too big bulk count string"}
		}
		l.line = append(l.line, c)
		return nil
	}
	digits := l.line
	if len(digits) > 0 && digits[len(digits)-1] == '\r' {
		digits = digits[:len(digits)-1]
	}
	// Same number syntax as redcon (strconv.Atoi).
	n, ok := atoi(digits)
	v := int64(n)
	if l.st == stCount {
		switch {
		case !ok || v <= 0:
			l.st = stPass
		case v > l.maxArgs:
			return &protocolError{"invalid multibulk length"}
		default:
			l.args, l.st = v, stBulk
		}
		return nil
	}
	switch {
	case !ok || v < 0:
		l.st = stPass
	case v > l.maxBulk:
		return &protocolError{"invalid bulk length"}
	case l.req+v+2 > l.maxReq:
		return &protocolError{"too big request"}
	default:
		l.body, l.st = v+2, stBody
	}
	return nil
}
