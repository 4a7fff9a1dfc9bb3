package resp

import "strconv"

// This file holds the append-style RESP encoders. They are pure functions
// that append one reply element to b and return the extended slice. Those
// whose RESP2 and RESP3 forms differ take the protocol version; any value
// other than 3 means RESP2.

const crlf = "\r\n"

// appendLine appends prefix, s with CR and LF replaced by spaces (so a
// caller-supplied text can never break the framing, as Redis does for
// errors), and CRLF.
func appendLine(b []byte, prefix byte, s string) []byte {
	b = append(b, prefix)
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch == '\r' || ch == '\n' {
			ch = ' '
		}
		b = append(b, ch)
	}
	return append(b, crlf...)
}

// appendStatus appends a simple string: +s\r\n.
func appendStatus(b []byte, s string) []byte { return appendLine(b, '+', s) }

// appendError appends an error: -s\r\n. s is the full text including the
// error code, e.g. "ERR syntax error".
func appendError(b []byte, s string) []byte { return appendLine(b, '-', s) }

// appendHeader appends a type byte, a decimal length and CRLF.
func appendHeader(b []byte, kind byte, n int64) []byte {
	b = append(b, kind)
	b = strconv.AppendInt(b, n, 10)
	return append(b, crlf...)
}

// appendInt appends an integer: :n\r\n.
func appendInt(b []byte, n int64) []byte { return appendHeader(b, ':', n) }

// appendBulk appends a bulk string: $len\r\n<bytes>\r\n.
func appendBulk(b []byte, p []byte) []byte {
	b = appendHeader(b, '$', int64(len(p)))
	b = append(b, p...)
	return append(b, crlf...)
}

// appendBulkString is appendBulk for a string.
func appendBulkString(b []byte, s string) []byte {
	b = appendHeader(b, '$', int64(len(s)))
	b = append(b, s...)
	return append(b, crlf...)
}

// appendBulkInt appends n in decimal as a bulk string (as Sentinel sends
// ports), without making a string of it.
func appendBulkInt(b []byte, n int64) []byte {
	var digits [20]byte
	return appendBulk(b, strconv.AppendInt(digits[:0], n, 10))
}

// appendNull appends a null bulk string: RESP2 $-1, RESP3 _.
func appendNull(b []byte, proto int) []byte {
	if proto == 3 {
		return append(b, "_\r\n"...)
	}
	return append(b, "$-1\r\n"...)
}

// appendNullArray appends a null array: RESP2 *-1, RESP3 _.
func appendNullArray(b []byte, proto int) []byte {
	if proto == 3 {
		return append(b, "_\r\n"...)
	}
	return append(b, "*-1\r\n"...)
}

// appendArrayHeader appends *n\r\n; n elements must follow.
func appendArrayHeader(b []byte, n int) []byte { return appendHeader(b, '*', int64(n)) }

// appendMapHeader appends the header of a map of n key/value pairs: RESP3
// %n, RESP2 a flat array *2n. 2n elements must follow.
func appendMapHeader(b []byte, proto, n int) []byte {
	if proto == 3 {
		return appendHeader(b, '%', int64(n))
	}
	return appendHeader(b, '*', 2*int64(n))
}

// appendPushHeader appends the header of an out-of-band message of n
// elements: RESP3 >n, RESP2 *n.
func appendPushHeader(b []byte, proto, n int) []byte {
	if proto == 3 {
		return appendHeader(b, '>', int64(n))
	}
	return appendHeader(b, '*', int64(n))
}

// appendSetHeader appends the header of a set of n elements: RESP3 ~n,
// RESP2 an array *n.
func appendSetHeader(b []byte, proto, n int) []byte {
	if proto == 3 {
		return appendHeader(b, '~', int64(n))
	}
	return appendHeader(b, '*', int64(n))
}

// appendDouble appends a floating-point number as Redis 7.0 does: RESP3
// a double (shortest form), RESP2 a bulk string with 17 significant
// digits.
func appendDouble(b []byte, proto int, f float64) []byte {
	if proto == 3 {
		b = append(b, ',')
		b = strconv.AppendFloat(b, f, 'g', -1, 64)
		return append(b, "\r\n"...)
	}
	var digits [32]byte
	return appendBulk(b, strconv.AppendFloat(digits[:0], f, 'g', 17, 64))
}
