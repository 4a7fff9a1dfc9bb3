//go:build linux

package main

import (
	"bufio"
	"context"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/redisproc"
	"github.com/raftsentinel/raftsentinel/probe"
)

func TestFakeNodes(t *testing.T) {
	f, err := newFakeNodes(4)
	if err != nil {
		t.Fatal(err)
	}
	defer f.close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	addrs := f.addrs()

	full, err := redisproc.Command(ctx, addrs[0], "INFO")
	if err != nil {
		t.Fatal(err)
	}
	in, err := probe.ParseInfo(full)
	if err != nil {
		t.Fatal(err)
	}
	if in.Role != "master" || len(in.Replicas) != 1 || in.Replicas[0].State != "online" || in.RedisVersion != "7.0.15" ||
		net.JoinHostPort(in.Replicas[0].Host, strconv.Itoa(in.Replicas[0].Port)) != addrs[1] || !strings.Contains(full, "\r\n# Keyspace") {
		t.Fatalf("master INFO parsed as %+v", in)
	}
	repl, err := redisproc.Command(ctx, addrs[3], "INFO", "replication")
	if err != nil {
		t.Fatal(err)
	}
	rin, err := probe.ParseInfo(repl)
	if err != nil {
		t.Fatal(err)
	}
	if rin.Role != "slave" || !rin.MasterLinkUp || strings.Contains(repl, "# Server") ||
		net.JoinHostPort(rin.MasterHost, strconv.Itoa(rin.MasterPort)) != addrs[2] {
		t.Fatalf("replica INFO replication %q", repl)
	}

	// A subscriber gets what is published to its node.
	sub, err := net.Dial("tcp", addrs[0])
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	r := bufio.NewReader(sub)
	if _, err := sub.Write([]byte("*2\r\n$9\r\nSUBSCRIBE\r\n$2\r\nch\r\n")); err != nil {
		t.Fatal(err)
	}
	for range 6 { // *3, $9, subscribe, $2, ch, :1
		if _, err := r.ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := redisproc.Command(ctx, addrs[0], "PUBLISH", "ch", "hello"); err != nil || n != "1" {
		t.Fatalf("PUBLISH = %q, %v", n, err)
	}
	_ = sub.SetReadDeadline(time.Now().Add(5 * time.Second))
	var got []string
	for range 7 {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, strings.TrimSpace(line))
	}
	if strings.Join(got, " ") != "*3 $7 message $2 ch $5 hello" {
		t.Fatalf("published message %q", got)
	}
	if c := f.c.snapshot(); c.InfoFull != 1 || c.InfoPart != 1 || c.Publish != 1 || c.Subscribe != 1 {
		t.Fatalf("counts %+v", c)
	}
}
