package redisproc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
)

// ReplyError is a Redis error reply ("-ERR ...", "-NOAUTH ...").
type ReplyError string

func (e ReplyError) Error() string { return string(e) }

// maxBulk bounds a bulk reply read by Do (INFO and CONFIG fit easily).
const maxBulk = 64 << 20

// Do sends one command to addr on a fresh connection and returns the reply:
// string (simple and bulk strings), int64, []any, or nil (null). An error
// reply is returned as a ReplyError. ctx bounds the dial and the exchange.
//
// It is a dependency-free helper for readiness checks and test assertions;
// it does not authenticate.
func Do(ctx context.Context, addr string, args ...string) (any, error) {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("redisproc: dial %s: %w", addr, err)
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		if err := conn.SetDeadline(dl); err != nil {
			return nil, fmt.Errorf("redisproc: %w", err)
		}
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()

	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(conn, b.String()); err != nil {
		return nil, fmt.Errorf("redisproc: %s %s: %w", addr, args[0], err)
	}
	v, err := readReply(bufio.NewReader(conn))
	if err != nil {
		var re ReplyError
		if errors.As(err, &re) {
			return nil, re
		}
		return nil, fmt.Errorf("redisproc: %s %s: %w", addr, args[0], err)
	}
	return v, nil
}

// Command is Do for commands with a string or integer reply; the integer
// is formatted in decimal and an array is an error.
func Command(ctx context.Context, addr string, args ...string) (string, error) {
	v, err := Do(ctx, addr, args...)
	if err != nil {
		return "", err
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case nil:
		return "", nil
	default:
		return "", fmt.Errorf("redisproc: %s: unexpected reply type %T", args[0], v)
	}
}

func readReply(r *bufio.Reader) (any, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return nil, errors.New("empty reply line")
	}
	body := line[1:]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return nil, ReplyError(body)
	case ':':
		n, err := strconv.ParseInt(body, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad integer reply %q: %w", body, err)
		}
		return n, nil
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n > maxBulk {
			return nil, fmt.Errorf("bad bulk length %q", body)
		}
		if n < 0 {
			return nil, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil {
			return nil, fmt.Errorf("bad array length %q", body)
		}
		if n < 0 {
			return nil, nil
		}
		out := make([]any, 0, n)
		for i := 0; i < n; i++ {
			v, err := readReply(r)
			if err != nil {
				var re ReplyError
				if errors.As(err, &re) {
					out = append(out, re)
					continue
				}
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	default:
		return nil, fmt.Errorf("unexpected reply %q", line)
	}
}
