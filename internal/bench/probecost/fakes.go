//go:build linux

package main

import (
	"bufio"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// The INFO of a Redis 7.0.15 master and of its replica, with the node's
// run id, port and peer (the replica's port, the master's) as
// placeholders.
var (
	//go:embed info_master.txt
	masterInfo string
	//go:embed info_replica.txt
	replicaInfo string
)

// counts are what the fake nodes have served, in all.
type counts struct {
	Ping      int64 `json:"ping"`
	InfoFull  int64 `json:"info_full"`
	InfoPart  int64 `json:"info_sections"` // INFO with sections named (replication, ...)
	Publish   int64 `json:"publish"`
	Other     int64 `json:"other"`
	ReplyB    int64 `json:"reply_bytes"` // bytes of every reply sent
	Accepted  int64 `json:"accepted"`
	Open      int64 `json:"open"`
	Subscribe int64 `json:"subscribe"`
}

type counters struct {
	ping, infoFull, infoPart, publish, other, replyB, accepted, open, subscribe atomic.Int64
}

func (c *counters) snapshot() counts {
	return counts{Ping: c.ping.Load(), InfoFull: c.infoFull.Load(), InfoPart: c.infoPart.Load(),
		Publish: c.publish.Load(), Other: c.other.Load(), ReplyB: c.replyB.Load(),
		Accepted: c.accepted.Load(), Open: c.open.Load(), Subscribe: c.subscribe.Load()}
}

// section is one "# Name" section of an INFO text, CRLF line ends.
type section struct {
	name string // lower case
	text string
}

// fakeNodes serves nodes as master/replica pairs (node 2k a master, 2k+1
// its replica), one listener each and a goroutine per connection: PING,
// INFO (full or by sections, from the templates), AUTH, CLIENT, SUBSCRIBE
// and PUBLISH (as Sentinel sends them; nothing is delivered), +OK to
// anything else.
type fakeNodes struct {
	lns   []net.Listener
	infos [][]section
	subs  []*subscribers // per node
	c     counters
	wg    sync.WaitGroup
}

// subscribers are a node's connections in SUBSCRIBE mode (any channel:
// Sentinel subscribes to one), which get what is PUBLISHed to the node.
type subscribers struct {
	mu    sync.Mutex
	conns map[*fakeConn]bool
}

// fakeConn is one client connection; mu serializes its writes (replies,
// and messages published on another connection).
type fakeConn struct {
	mu sync.Mutex
	c  net.Conn
}

func (fc *fakeConn) write(s string) error {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	_, err := io.WriteString(fc.c, s)
	return err
}

// publish delivers msg on ch to the node's subscribers and returns how
// many got it.
func (s *subscribers) publish(ch, msg string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	m := fmt.Sprintf("*3\r\n$7\r\nmessage\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", len(ch), ch, len(msg), msg)
	for fc := range s.conns {
		_ = fc.write(m)
	}
	return len(s.conns)
}

func newFakeNodes(n int) (*fakeNodes, error) {
	f := &fakeNodes{}
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			f.close()
			return nil, fmt.Errorf("listen: %w", err)
		}
		f.lns = append(f.lns, ln)
	}
	for i, ln := range f.lns {
		tmpl, peer := masterInfo, i+1
		if i%2 == 1 {
			tmpl, peer = replicaInfo, i-1
		}
		text := strings.NewReplacer("{{RUNID}}", fmt.Sprintf("%040x", i+1), "{{PORT}}", portOf(ln),
			"{{PEER}}", portOf(f.lns[peer])).Replace(tmpl)
		f.infos = append(f.infos, splitSections(text))
		f.subs = append(f.subs, &subscribers{conns: map[*fakeConn]bool{}})
	}
	for i, ln := range f.lns {
		f.wg.Add(1)
		go f.accept(ln, i)
	}
	return f, nil
}

func portOf(ln net.Listener) string { return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port) }

func (f *fakeNodes) addrs() []string {
	out := make([]string, len(f.lns))
	for i, ln := range f.lns {
		out[i] = ln.Addr().String()
	}
	return out
}

// close stops accepting (open connections end with the process).
func (f *fakeNodes) close() {
	for _, ln := range f.lns {
		_ = ln.Close()
	}
	f.wg.Wait()
}

func splitSections(text string) []section {
	var out []section
	for _, part := range strings.Split(text, "\n\n") {
		name, _, _ := strings.Cut(strings.TrimPrefix(part, "# "), "\n")
		body := strings.ReplaceAll(strings.TrimRight(part, "\n"), "\n", "\r\n") + "\r\n"
		out = append(out, section{name: strings.ToLower(name), text: body})
	}
	return out
}

// info is node i's INFO for the given sections (none: all).
func (f *fakeNodes) info(i int, sections []string) string {
	var parts []string
	for _, s := range f.infos[i] {
		if len(sections) == 0 || containsFold(sections, s.name) {
			parts = append(parts, s.text)
		}
	}
	return strings.Join(parts, "\r\n")
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) || strings.EqualFold(x, "all") || strings.EqualFold(x, "default") {
			return true
		}
	}
	return false
}

func (f *fakeNodes) accept(ln net.Listener, idx int) {
	defer f.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		f.c.accepted.Add(1)
		f.c.open.Add(1)
		go f.serve(c, idx)
	}
}

func (f *fakeNodes) serve(c net.Conn, idx int) {
	fc := &fakeConn{c: c}
	subs := f.subs[idx]
	defer func() {
		subs.mu.Lock()
		delete(subs.conns, fc)
		subs.mu.Unlock()
		_ = c.Close()
		f.c.open.Add(-1)
	}()
	r := bufio.NewReader(c)
	for {
		args, err := readCommand(r)
		if err != nil {
			return
		}
		reply := f.reply(idx, args)
		f.c.replyB.Add(int64(len(reply)))
		if err := fc.write(reply); err != nil {
			return
		}
		if strings.EqualFold(args[0], "SUBSCRIBE") {
			subs.mu.Lock()
			subs.conns[fc] = true
			subs.mu.Unlock()
		}
	}
}

func (f *fakeNodes) reply(idx int, args []string) string {
	switch strings.ToUpper(args[0]) {
	case "PING":
		f.c.ping.Add(1)
		return "+PONG\r\n"
	case "INFO":
		if len(args) == 1 {
			f.c.infoFull.Add(1)
		} else {
			f.c.infoPart.Add(1)
		}
		body := f.info(idx, args[1:])
		return "$" + strconv.Itoa(len(body)) + "\r\n" + body + "\r\n"
	case "HELLO":
		// As Redis 7 answers HELLO 2 (go-redis' connection setup).
		f.c.other.Add(1)
		role := "master"
		if idx%2 == 1 {
			role = "replica"
		}
		return "*14\r\n$6\r\nserver\r\n$5\r\nredis\r\n$7\r\nversion\r\n$6\r\n7.0.15\r\n" +
			"$5\r\nproto\r\n:2\r\n$2\r\nid\r\n:1\r\n$4\r\nmode\r\n$10\r\nstandalone\r\n" +
			"$4\r\nrole\r\n$" + strconv.Itoa(len(role)) + "\r\n" + role + "\r\n$7\r\nmodules\r\n*0\r\n"
	case "PUBLISH":
		f.c.publish.Add(1)
		if len(args) != 3 {
			return "-ERR wrong number of arguments for 'publish' command\r\n"
		}
		return ":" + strconv.Itoa(f.subs[idx].publish(args[1], args[2])) + "\r\n"
	case "SUBSCRIBE":
		f.c.subscribe.Add(1)
		var b strings.Builder
		for i, ch := range args[1:] {
			fmt.Fprintf(&b, "*3\r\n$9\r\nsubscribe\r\n$%d\r\n%s\r\n:%d\r\n", len(ch), ch, i+1)
		}
		return b.String()
	default:
		f.c.other.Add(1)
		return "+OK\r\n"
	}
}

// readCommand reads one RESP array of bulk strings (or an inline command).
func readCommand(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimRight(line, "\r\n")
	if !strings.HasPrefix(line, "*") {
		if f := strings.Fields(line); len(f) > 0 {
			return f, nil
		}
		return readCommand(r)
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n <= 0 {
		return nil, fmt.Errorf("bad array header %q", line)
	}
	args := make([]string, 0, n)
	for range n {
		h, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		size, err := strconv.Atoi(strings.TrimRight(h, "\r\n")[1:])
		if err != nil || size < 0 {
			return nil, fmt.Errorf("bad bulk header %q", h)
		}
		buf := make([]byte, size+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		args = append(args, string(buf[:size]))
	}
	return args, nil
}

// serveFakes is the -serve mode: it serves n fake nodes, writes their
// addresses on one line of stdout, then answers every line of stdin with
// a JSON line of the counts; it returns at the end of stdin.
func serveFakes(n int, stdin io.Reader, stdout io.Writer) error {
	f, err := newFakeNodes(n)
	if err != nil {
		return err
	}
	defer f.close()
	if _, err := fmt.Fprintln(stdout, strings.Join(f.addrs(), " ")); err != nil {
		return err
	}
	in := bufio.NewScanner(stdin)
	enc := json.NewEncoder(stdout)
	for in.Scan() {
		if err := enc.Encode(f.c.snapshot()); err != nil {
			return err
		}
	}
	return in.Err()
}
