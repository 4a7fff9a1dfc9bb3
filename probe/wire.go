package probe

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// The probe connection's wire format: RESP2 commands out, RESP2 replies
// in. The probe sends only AUTH, CLIENT SETNAME, PING and INFO on it, so
// the reader handles the five RESP2 reply types and keeps nothing but what
// those commands need: whether the reply is an error (and its text), and
// the text of a bulk string (INFO). Arrays are read and discarded, so an
// unexpected reply cannot break the framing.

// errProtocol is wrapped by readReply for input that is not RESP2.
var errProtocol = errors.New("probe: protocol error")

// maxBulkReply bounds a bulk reply (a full INFO is a few KiB; a reply
// beyond this is not from a Redis node).
const maxBulkReply = 16 << 20

// maxArrayDepth bounds the nesting of a discarded array reply.
const maxArrayDepth = 8

// replyError is an error reply of a node ("-ERR ...", "-LOADING ...").
// It implements redis.Error, so redis.HasErrorPrefix and isReply treat it
// as go-redis' own error replies.
type replyError string

func (e replyError) Error() string { return string(e) }

// RedisError marks replyError as a Redis error reply (redis.Error).
func (replyError) RedisError() {}

// reply is one reply as the probe needs it.
type reply struct {
	kind byte   // '+', '-', ':', '$' or '*'
	err  error  // kind '-': the error reply (a replyError)
	bulk string // kind '$': the bulk string ("" for a null bulk)
}

// appendCommand appends args as a RESP array of bulk strings to b.
func appendCommand(b []byte, args ...string) []byte {
	b = append(b, '*')
	b = strconv.AppendInt(b, int64(len(args)), 10)
	b = append(b, '\r', '\n')
	for _, a := range args {
		b = append(b, '$')
		b = strconv.AppendInt(b, int64(len(a)), 10)
		b = append(b, '\r', '\n')
		b = append(b, a...)
		b = append(b, '\r', '\n')
	}
	return b
}

// readReply reads one reply. Simple strings and integers are not kept
// (the probe only needs to know they are not errors). It fails with the
// reader's error or one wrapping errProtocol.
func readReply(r *bufio.Reader) (reply, error) {
	return readReplyDepth(r, 0)
}

func readReplyDepth(r *bufio.Reader, depth int) (reply, error) {
	line, err := readLine(r)
	if err != nil {
		return reply{}, err
	}
	if len(line) == 0 {
		return reply{}, fmt.Errorf("%w: empty line", errProtocol)
	}
	rep := reply{kind: line[0]}
	switch line[0] {
	case '+', ':':
		return rep, nil
	case '-':
		rep.err = replyError(line[1:])
		return rep, nil
	case '$':
		n, ok := parseLen(line[1:])
		if !ok || n > maxBulkReply {
			return reply{}, fmt.Errorf("%w: bulk length %q", errProtocol, line[1:])
		}
		if n < 0 {
			return rep, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return reply{}, err
		}
		if buf[n] != '\r' || buf[n+1] != '\n' {
			return reply{}, fmt.Errorf("%w: bulk string not followed by CRLF", errProtocol)
		}
		rep.bulk = string(buf[:n])
		return rep, nil
	case '*':
		n, ok := parseLen(line[1:])
		if !ok || depth >= maxArrayDepth {
			return reply{}, fmt.Errorf("%w: array header %q", errProtocol, line[1:])
		}
		for i := 0; i < n; i++ {
			if _, err := readReplyDepth(r, depth+1); err != nil {
				return reply{}, err
			}
		}
		return rep, nil
	default:
		return reply{}, fmt.Errorf("%w: unexpected reply type %q", errProtocol, line[0])
	}
}

// readLine returns the next line without its CRLF; it aliases the reader's
// buffer, valid until the next read (error replies are converted to a
// string at once).
func readLine(r *bufio.Reader) ([]byte, error) {
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		// A line longer than the buffer (a long error text): collect it.
		long := append([]byte(nil), line...)
		var rest []byte
		rest, err = r.ReadBytes('\n')
		line = append(long, rest...)
	}
	if err != nil {
		return nil, err
	}
	if len(line) < 2 || line[len(line)-2] != '\r' {
		return nil, fmt.Errorf("%w: line not ended by CRLF", errProtocol)
	}
	return line[:len(line)-2], nil
}

// parseLen parses a RESP length: a decimal number, or -1 (null).
func parseLen(b []byte) (int, bool) {
	if len(b) == 2 && b[0] == '-' && b[1] == '1' {
		return -1, true
	}
	if len(b) == 0 || len(b) > 10 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
