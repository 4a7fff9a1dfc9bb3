package probe

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
)

func TestAppendCommand(t *testing.T) {
	got := string(appendCommand(nil, "INFO", "replication", ""))
	want := "*3\r\n$4\r\nINFO\r\n$11\r\nreplication\r\n$0\r\n\r\n"
	if got != want {
		t.Fatalf("appendCommand = %q, want %q", got, want)
	}
}

func TestReadReply(t *testing.T) {
	long := "-ERR " + strings.Repeat("x", 5000)
	in := "+PONG\r\n" +
		"-LOADING Redis is loading the dataset in memory\r\n" +
		":42\r\n" +
		"$5\r\nhello\r\n" +
		"$-1\r\n" +
		"*2\r\n$1\r\na\r\n*1\r\n:1\r\n" + // discarded, framing kept
		"*-1\r\n" +
		long + "\r\n" +
		"$0\r\n\r\n"
	r := bufio.NewReaderSize(strings.NewReader(in), 16)
	want := []reply{
		{kind: '+'},
		{kind: '-', err: replyError("LOADING Redis is loading the dataset in memory")},
		{kind: ':'},
		{kind: '$', bulk: "hello"},
		{kind: '$'},
		{kind: '*'},
		{kind: '*'},
		{kind: '-', err: replyError(long[1:])},
		{kind: '$'},
	}
	for i, w := range want {
		got, err := readReply(r)
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if got != w {
			t.Fatalf("reply %d = %+v, want %+v", i, got, w)
		}
	}
	if _, err := readReply(r); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last reply: %v, want EOF", err)
	}
}

func TestReadReplyErrors(t *testing.T) {
	for _, in := range []string{
		"PONG\r\n",         // no type
		"+PONG\n",          // no CR
		"\r\n",             // empty
		"$3\r\nabcd\r\n",   // bulk longer than announced
		"$x\r\n",           // bad length
		"$99999999999\r\n", // too long
		"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", // too deep
	} {
		_, err := readReply(bufio.NewReader(strings.NewReader(in)))
		if !errors.Is(err, errProtocol) {
			t.Errorf("readReply(%q) = %v, want a protocol error", in, err)
		}
	}
	// A truncated reply is the reader's error, not a protocol error.
	if _, err := readReply(bufio.NewReader(strings.NewReader("$5\r\nab"))); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("truncated bulk: %v", err)
	}
}

// An error reply is a Redis error to the classifiers the go-redis links
// use too.
func TestReplyErrorIsRedisError(t *testing.T) {
	err := error(replyError("WRONGPASS invalid username-password pair"))
	if !isReply(err) || !isAuthRefused(err) || classifyPing(err) != pingAuthRefused {
		t.Fatalf("replyError not classified as an auth refusal")
	}
	if !redis.HasErrorPrefix(replyError("MASTERDOWN link down"), "MASTERDOWN") {
		t.Fatal("HasErrorPrefix does not see a replyError")
	}
	if classifyPing(replyError("BUSY script")) != pingInvalid {
		t.Fatal("-BUSY is not an invalid reply")
	}
}
