package probe

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeRedis is a scriptable RESP server for PING semantics that a real
// redis-server cannot be made to show on demand (-LOADING, -BUSY, a PING
// that is read but never answered).
type fakeRedis struct {
	t  *testing.T
	ln net.Listener
	wg sync.WaitGroup

	mu        sync.Mutex
	pingReply string            // raw RESP line without CRLF; "" = never answer
	infoBody  string            // the INFO reply's text, whatever the sections asked
	replies   map[string]string // raw reply lines by upper-case command name, replacing the defaults (but PING's)
	pings     []time.Time
	cmds      []fakeCmd // every command received
	accepted  int       // connections accepted so far
	conns     map[net.Conn]struct{}
}

// fakeCmd is one command a fakeRedis received.
type fakeCmd struct {
	at   time.Time
	args []string
}

// defaultFakeInfo is the INFO text of a fakeRedis until setInfoBody.
const defaultFakeInfo = "# Replication\r\nrole:master\r\nmaster_repl_offset:7\r\n"

func newFakeRedis(t *testing.T, pingReply string) *fakeRedis {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeRedis{t: t, ln: ln, pingReply: pingReply, infoBody: defaultFakeInfo, conns: map[net.Conn]struct{}{}}
	f.wg.Add(1)
	go f.serve()
	t.Cleanup(f.close)
	return f
}

func (f *fakeRedis) addr() string { return f.ln.Addr().String() }

func (f *fakeRedis) setPingReply(r string) {
	f.mu.Lock()
	f.pingReply = r
	f.mu.Unlock()
}

// setReply makes f answer the command name (any case) with the raw RESP
// line reply.
func (f *fakeRedis) setReply(name, reply string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.replies == nil {
		f.replies = map[string]string{}
	}
	f.replies[strings.ToUpper(name)] = reply
}

func (f *fakeRedis) setInfoBody(body string) {
	f.mu.Lock()
	f.infoBody = body
	f.mu.Unlock()
}

// commands returns the commands received so far whose name is name (any
// case), with their arguments after the name.
func (f *fakeRedis) commands(name string) []fakeCmd {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []fakeCmd
	for _, c := range f.cmds {
		if strings.EqualFold(c.args[0], name) {
			out = append(out, fakeCmd{at: c.at, args: c.args[1:]})
		}
	}
	return out
}

// openConns returns how many connections are open now, and how many were
// accepted in all.
func (f *fakeRedis) openConns() (open, accepted int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.conns), f.accepted
}

// dropConns closes every open connection (as a restarted node would).
func (f *fakeRedis) dropConns() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for c := range f.conns {
		_ = c.Close()
	}
}

func (f *fakeRedis) pingTimes() []time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Time(nil), f.pings...)
}

func (f *fakeRedis) close() {
	_ = f.ln.Close()
	f.mu.Lock()
	for c := range f.conns {
		_ = c.Close()
	}
	f.mu.Unlock()
	f.wg.Wait()
}

func (f *fakeRedis) serve() {
	defer f.wg.Done()
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.conns[c] = struct{}{}
		f.accepted++
		f.mu.Unlock()
		f.wg.Add(1)
		go f.handle(c)
	}
}

func (f *fakeRedis) handle(c net.Conn) {
	defer f.wg.Done()
	defer func() {
		_ = c.Close()
		f.mu.Lock()
		delete(f.conns, c)
		f.mu.Unlock()
	}()
	r := bufio.NewReader(c)
	for {
		args, err := readCommand(r)
		if err != nil {
			return
		}
		if len(args) == 0 {
			continue
		}
		f.mu.Lock()
		f.cmds = append(f.cmds, fakeCmd{at: time.Now(), args: args})
		override, ok := f.replies[strings.ToUpper(args[0])]
		f.mu.Unlock()
		var reply string
		switch name := strings.ToUpper(args[0]); {
		case ok && name != "PING":
			reply = override
		case name == "HELLO":
			reply = "-ERR unknown command 'HELLO'"
		case name == "INFO":
			f.mu.Lock()
			body := f.infoBody
			f.mu.Unlock()
			reply = "$" + strconv.Itoa(len(body)) + "\r\n" + body // the writer adds the final CRLF
		case name == "PING":
			f.mu.Lock()
			f.pings = append(f.pings, time.Now())
			reply = f.pingReply
			f.mu.Unlock()
			if reply == "" {
				continue // read, never answered
			}
		default:
			reply = "+OK"
		}
		if _, err := io.WriteString(c, reply+"\r\n"); err != nil {
			return
		}
	}
}

func readCommand(r *bufio.Reader) ([]string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimRight(line, "\r\n")
	if !strings.HasPrefix(line, "*") {
		return strings.Fields(line), nil
	}
	n, err := strconv.Atoi(line[1:])
	if err != nil || n <= 0 {
		return nil, fmt.Errorf("bad array %q", line)
	}
	args := make([]string, 0, n)
	for i := 0; i < n; i++ {
		h, err := r.ReadString('\n')
		if err != nil {
			return nil, err
		}
		size, err := strconv.Atoi(strings.TrimRight(h, "\r\n")[1:])
		if err != nil {
			return nil, err
		}
		buf := make([]byte, size+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		args = append(args, string(buf[:size]))
	}
	return args, nil
}
