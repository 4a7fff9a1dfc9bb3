//go:build integration

package oracle

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// This file is a raw RESP2/RESP3 client that keeps every wire type apart
// (simple string vs bulk, the three null kinds, array vs map vs set vs
// push, verbatim, double, boolean, big number, blob error), which
// redisproc.Do and go-redis both fold together. Differential cases compare
// these trees.

// Kind is the wire type of a reply.
type Kind int

// Reply kinds, by RESP type byte.
const (
	KSimple    Kind = iota // +
	KError                 // -
	KInt                   // :
	KBulk                  // $n
	KNullBulk              // $-1 (RESP2)
	KNullArray             // *-1 (RESP2)
	KNull                  // _ (RESP3)
	KArray                 // *
	KMap                   // %
	KSet                   // ~
	KPush                  // >
	KDouble                // ,
	KBool                  // #
	KVerbatim              // =
	KBigNum                // (
	KBlobError             // !
	KAttr                  // | (attribute map, precedes a reply)
)

var kindNames = map[Kind]string{
	KSimple: "simple", KError: "error", KInt: "int", KBulk: "bulk", KNullBulk: "null-bulk($-1)",
	KNullArray: "null-array(*-1)", KNull: "null(_)", KArray: "array", KMap: "map", KSet: "set",
	KPush: "push", KDouble: "double", KBool: "bool", KVerbatim: "verbatim", KBigNum: "bignum",
	KBlobError: "blob-error", KAttr: "attribute",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// aggregate reports whether k has elements.
func (k Kind) aggregate() bool {
	return k == KArray || k == KMap || k == KSet || k == KPush || k == KAttr
}

// Reply is one decoded RESP value. Str holds the text of every scalar (an
// integer's decimal form too); Elems the elements of aggregates, a map's
// as key, value, key, value.
type Reply struct {
	Kind  Kind
	Str   string
	Elems []*Reply
}

// Clone returns a deep copy.
func (r *Reply) Clone() *Reply {
	if r == nil {
		return nil
	}
	c := &Reply{Kind: r.Kind, Str: r.Str}
	for _, e := range r.Elems {
		c.Elems = append(c.Elems, e.Clone())
	}
	return c
}

// Render is an indented, line-oriented dump of the type tree and values;
// two replies are equal for a test when their renders are.
func (r *Reply) Render() string {
	var b strings.Builder
	r.render(&b, 0, "")
	return b.String()
}

func (r *Reply) render(b *strings.Builder, depth int, prefix string) {
	ind := strings.Repeat("  ", depth)
	if r == nil {
		fmt.Fprintf(b, "%s%s<no reply>\n", ind, prefix)
		return
	}
	switch {
	case r.Kind == KMap || r.Kind == KAttr:
		fmt.Fprintf(b, "%s%s%s[%d]\n", ind, prefix, r.Kind, len(r.Elems)/2)
		for i := 0; i+1 < len(r.Elems); i += 2 {
			k, v := r.Elems[i], r.Elems[i+1]
			key := k.scalar()
			if v.Kind.aggregate() {
				v.render(b, depth+1, key+" => ")
			} else {
				fmt.Fprintf(b, "%s  %s => %s\n", ind, key, v.scalar())
			}
		}
	case r.Kind.aggregate():
		fmt.Fprintf(b, "%s%s%s[%d]\n", ind, prefix, r.Kind, len(r.Elems))
		for _, e := range r.Elems {
			e.render(b, depth+1, "")
		}
	default:
		fmt.Fprintf(b, "%s%s%s\n", ind, prefix, r.scalar())
	}
}

// scalar renders a non-aggregate as kind plus quoted value.
func (r *Reply) scalar() string {
	switch r.Kind {
	case KNullBulk, KNullArray, KNull:
		return r.Kind.String()
	case KInt, KDouble, KBool, KBigNum:
		return r.Kind.String() + " " + r.Str
	case KArray, KMap, KSet, KPush, KAttr:
		return fmt.Sprintf("%s[%d]", r.Kind, len(r.Elems))
	default:
		return r.Kind.String() + " " + strconv.Quote(r.Str)
	}
}

// TypeTree renders only the kinds (no values, no keys): the "shape".
func (r *Reply) TypeTree() string {
	if r == nil {
		return "<none>"
	}
	if !r.Kind.aggregate() {
		return r.Kind.String()
	}
	parts := make([]string, 0, len(r.Elems))
	for _, e := range r.Elems {
		parts = append(parts, e.TypeTree())
	}
	return r.Kind.String() + "{" + strings.Join(parts, ",") + "}"
}

// IsError reports whether r is an error reply.
func (r *Reply) IsError() bool { return r != nil && (r.Kind == KError || r.Kind == KBlobError) }

// Text is r's scalar text ("" for aggregates and nulls).
func (r *Reply) Text() string {
	if r == nil || r.Kind.aggregate() {
		return ""
	}
	return r.Str
}

// KV returns the key/value pairs of a map, or of a flat array of an even
// number of scalar elements (RESP2's form of a map), in order.
func (r *Reply) KV() ([][2]*Reply, bool) {
	if r == nil || (r.Kind != KMap && r.Kind != KArray) || len(r.Elems)%2 != 0 {
		return nil, false
	}
	var out [][2]*Reply
	for i := 0; i < len(r.Elems); i += 2 {
		if r.Elems[i].Kind.aggregate() {
			return nil, false
		}
		out = append(out, [2]*Reply{r.Elems[i], r.Elems[i+1]})
	}
	return out, true
}

// Field returns the value of key in a map or flat key/value array.
func (r *Reply) Field(key string) (*Reply, bool) {
	kv, ok := r.KV()
	if !ok {
		return nil, false
	}
	for _, p := range kv {
		if p[0].Str == key {
			return p[1], true
		}
	}
	return nil, false
}

// maxBulkLen bounds bulk strings read (INFO-CACHE carries whole INFO
// replies; a few MB is plenty).
const maxBulkLen = 16 << 20

// Conn is one client connection.
type Conn struct {
	nc net.Conn
	br *bufio.Reader
}

// Dial connects to addr.
func Dial(addr string) (*Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return nil, err
	}
	return &Conn{nc: nc, br: bufio.NewReader(nc)}, nil
}

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }

// Send writes one command as a RESP array of bulk strings.
func (c *Conn) Send(args ...string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if err := c.nc.SetWriteDeadline(time.Now().Add(2 * time.Second)); err != nil {
		return err
	}
	_, err := io.WriteString(c.nc, b.String())
	return err
}

// Read reads one reply (attributes are folded into the following reply's
// tree as a leading KAttr, which no Sentinel sends) within d.
func (c *Conn) Read(d time.Duration) (*Reply, error) {
	if err := c.nc.SetReadDeadline(time.Now().Add(d)); err != nil {
		return nil, err
	}
	return readValue(c.br)
}

// Do sends a command and reads one reply.
func (c *Conn) Do(d time.Duration, args ...string) (*Reply, error) {
	if err := c.Send(args...); err != nil {
		return nil, err
	}
	return c.Read(d)
}

// Pending reports whether more data arrives within d (the connection is
// then out of step); a closed connection counts as none.
func (c *Conn) Pending(d time.Duration) (*Reply, bool) {
	r, err := c.Read(d)
	if err != nil {
		return nil, false
	}
	return r, true
}

// Closed reports whether the server closed the connection within d.
func (c *Conn) Closed(d time.Duration) bool {
	if err := c.nc.SetReadDeadline(time.Now().Add(d)); err != nil {
		return true
	}
	_, err := c.br.Peek(1)
	if err == nil {
		return false
	}
	var ne net.Error
	return !(errors.As(err, &ne) && ne.Timeout())
}

func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	if !strings.HasSuffix(line, "\r\n") {
		return "", fmt.Errorf("line without CRLF: %q", line)
	}
	return line[:len(line)-2], nil
}

func readValue(r *bufio.Reader) (*Reply, error) {
	line, err := readLine(r)
	if err != nil {
		return nil, err
	}
	if line == "" {
		return nil, errors.New("empty reply line")
	}
	body := line[1:]
	switch line[0] {
	case '+':
		return &Reply{Kind: KSimple, Str: body}, nil
	case '-':
		return &Reply{Kind: KError, Str: body}, nil
	case ':':
		if _, err := strconv.ParseInt(body, 10, 64); err != nil {
			return nil, fmt.Errorf("bad integer %q", body)
		}
		return &Reply{Kind: KInt, Str: body}, nil
	case ',':
		return &Reply{Kind: KDouble, Str: body}, nil
	case '#':
		if body != "t" && body != "f" {
			return nil, fmt.Errorf("bad boolean %q", body)
		}
		return &Reply{Kind: KBool, Str: body}, nil
	case '(':
		return &Reply{Kind: KBigNum, Str: body}, nil
	case '_':
		if body != "" {
			return nil, fmt.Errorf("bad null %q", line)
		}
		return &Reply{Kind: KNull}, nil
	case '$', '!', '=':
		n, err := strconv.Atoi(body)
		if err != nil || n > maxBulkLen || n < -1 {
			return nil, fmt.Errorf("bad length %q", line)
		}
		if n < 0 {
			if line[0] != '$' {
				return nil, fmt.Errorf("bad length %q", line)
			}
			return &Reply{Kind: KNullBulk}, nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		if string(buf[n:]) != "\r\n" {
			return nil, fmt.Errorf("bulk of %d bytes not followed by CRLF", n)
		}
		kind := map[byte]Kind{'$': KBulk, '!': KBlobError, '=': KVerbatim}[line[0]]
		return &Reply{Kind: kind, Str: string(buf[:n])}, nil
	case '*', '%', '~', '>', '|':
		n, err := strconv.Atoi(body)
		if err != nil || n < -1 || n > 1<<20 {
			return nil, fmt.Errorf("bad length %q", line)
		}
		if n < 0 {
			if line[0] != '*' {
				return nil, fmt.Errorf("bad length %q", line)
			}
			return &Reply{Kind: KNullArray}, nil
		}
		kind := map[byte]Kind{'*': KArray, '%': KMap, '~': KSet, '>': KPush, '|': KAttr}[line[0]]
		count := n
		if kind == KMap || kind == KAttr {
			count = 2 * n
		}
		out := &Reply{Kind: kind, Elems: make([]*Reply, 0, count)}
		for range count {
			e, err := readValue(r)
			if err != nil {
				return nil, err
			}
			out.Elems = append(out.Elems, e)
		}
		if kind == KAttr {
			next, err := readValue(r)
			if err != nil {
				return nil, err
			}
			return &Reply{Kind: KArray, Elems: []*Reply{out, next}}, nil
		}
		return out, nil
	default:
		return nil, fmt.Errorf("unknown reply type %q", line)
	}
}
