package probe

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// crlf turns a readable fixture into the CRLF text Redis sends.
func crlf(lines ...string) string { return strings.Join(lines, "\r\n") + "\r\n" }

func TestParseInfo(t *testing.T) {
	tests := []struct {
		name string
		text string
		want Info
		err  error
	}{
		{
			name: "master with two replicas (7.0 key=value lines)",
			text: crlf(
				"# Server",
				"redis_version:7.0.15",
				"redis_mode:standalone",
				"run_id:5e3a7c2f0c7a4b0e9d1f2a3b4c5d6e7f8a9b0c1d",
				"tcp_port:6379",
				"",
				"# Replication",
				"role:master",
				"connected_slaves:2",
				"slave0:ip=10.0.0.2,port=6380,state=online,offset=1234,lag=0",
				"slave1:ip=10.0.0.3,port=6381,state=wait_bgsave,offset=0,lag=3",
				"master_failover_state:no-failover",
				"master_replid:95cf16ac86b2fee1b71e6306e0e1b2210f06dd4e",
				"master_repl_offset:1234",
				"second_repl_offset:-1",
			),
			want: Info{
				RunID: "5e3a7c2f0c7a4b0e9d1f2a3b4c5d6e7f8a9b0c1d", Role: "master", ReplOffset: 1234,
				Priority: 100, ReplicaAnnounced: true, RedisVersion: "7.0.15",
				Replicas: []ReplicaEntry{
					{Host: "10.0.0.2", Port: 6380, State: "online", Offset: 1234, Lag: 0},
					{Host: "10.0.0.3", Port: 6381, State: "wait_bgsave", Offset: 0, Lag: 3},
				},
			},
		},
		{
			name: "replica with link up",
			text: crlf(
				"# Server",
				"redis_version:6.2.6",
				"run_id:aaaa",
				"# Replication",
				"role:slave",
				"master_host:10.0.0.1",
				"master_port:6379",
				"master_link_status:up",
				"master_last_io_seconds_ago:0",
				"master_sync_in_progress:0",
				"slave_read_repl_offset:999",
				"slave_repl_offset:998",
				"slave_priority:50",
				"slave_read_only:1",
				"replica_announced:0",
				"connected_slaves:0",
				"master_repl_offset:998",
			),
			want: Info{
				RunID: "aaaa", Role: "slave", MasterHost: "10.0.0.1", MasterPort: 6379, MasterLinkUp: true,
				ReplOffset: 998, Priority: 50, ReplicaAnnounced: false, RedisVersion: "6.2.6",
			},
		},
		{
			name: "replica with link down for 7 s, replica_priority spelling, LF only",
			text: strings.Join([]string{
				"role:slave",
				"master_host:10.0.0.1",
				"master_port:6379",
				"master_link_status:down",
				"slave_repl_offset:42",
				"master_link_down_since_seconds:7",
				"replica_priority:0",
			}, "\n"),
			want: Info{
				Role: "slave", MasterHost: "10.0.0.1", MasterPort: 6379, MasterLinkDownMs: 7000,
				ReplOffset: 42, Priority: 0, ReplicaAnnounced: true,
			},
		},
		{
			name: "replica that never connected reports -1",
			text: crlf("role:slave", "master_host:h", "master_port:1", "master_link_status:down",
				"master_link_down_since_seconds:-1", "slave_repl_offset:1"),
			want: Info{Role: "slave", MasterHost: "h", MasterPort: 1, MasterLinkDownMs: -1, ReplOffset: 1,
				Priority: 100, ReplicaAnnounced: true},
		},
		{
			name: "old slaveN:ip,port,state form and loading",
			text: crlf("role:master", "loading:1", "slave0:10.0.0.2,6380,online", "slave1:garbage",
				"slave2:ip=,port=1,state=online", "slavex:ip=1.1.1.1,port=2", "master_repl_offset:5"),
			want: Info{Role: "master", ReplOffset: 5, Priority: 100, ReplicaAnnounced: true, Loading: true,
				Replicas: []ReplicaEntry{{Host: "10.0.0.2", Port: 6380, State: "online"}}},
		},
		{
			name: "IPv6 replica",
			text: crlf("role:master", "slave0:ip=::1,port=6380,state=online,offset=1,lag=1"),
			want: Info{Role: "master", Priority: 100, ReplicaAnnounced: true,
				Replicas: []ReplicaEntry{{Host: "::1", Port: 6380, State: "online", Offset: 1, Lag: 1}}},
		},
		{
			name: "master fields of a master are cleared",
			text: crlf("role:master", "master_host:stale", "master_port:1"),
			want: Info{Role: "master", Priority: 100, ReplicaAnnounced: true},
		},
		{name: "no role", text: crlf("# Server", "redis_version:7.0.0"), err: ErrBadInfo},
		{name: "empty", text: "", err: ErrBadInfo},
		{name: "sentinel role", text: crlf("role:sentinel"), err: ErrBadInfo},
		{name: "bad port", text: crlf("role:slave", "master_port:x"), err: ErrBadInfo},
		{name: "bad offset", text: crlf("role:master", "master_repl_offset:1.5"), err: ErrBadInfo},
		{name: "bad priority", text: crlf("role:slave", "slave_priority:high"), err: ErrBadInfo},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseInfo(tc.text)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err = %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseInfo: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseRole(t *testing.T) {
	tests := []struct {
		name  string
		reply any
		want  Role
		err   bool
	}{
		{
			name:  "master with replicas (numbers as strings)",
			reply: []any{"master", int64(3129659), []any{[]any{"127.0.0.1", "9001", "3129242"}, []any{"127.0.0.1", "9002", "3129543"}}},
			want: Role{Role: "master", Offset: 3129659, Replicas: []ReplicaEntry{
				{Host: "127.0.0.1", Port: 9001, Offset: 3129242}, {Host: "127.0.0.1", Port: 9002, Offset: 3129543}}},
		},
		{name: "master alone", reply: []any{"master", int64(0), []any{}}, want: Role{Role: "master"}},
		{
			name:  "slave connected",
			reply: []any{"slave", "127.0.0.1", int64(9000), "connected", int64(3167038)},
			want:  Role{Role: "slave", MasterHost: "127.0.0.1", MasterPort: 9000, LinkState: "connected", Offset: 3167038},
		},
		{
			name:  "slave connecting",
			reply: []any{"slave", "10.0.0.1", int64(6379), "connect", int64(-1)},
			want:  Role{Role: "slave", MasterHost: "10.0.0.1", MasterPort: 6379, LinkState: "connect", Offset: -1},
		},
		{name: "sentinel", reply: []any{"sentinel", []any{"mymaster"}}, want: Role{Role: "sentinel"}},
		{name: "not an array", reply: "master", err: true},
		{name: "empty", reply: []any{}, err: true},
		{name: "short master", reply: []any{"master", int64(1)}, err: true},
		{name: "short slave", reply: []any{"slave", "h", int64(1), "connected"}, err: true},
		{name: "bad replica port", reply: []any{"master", int64(1), []any{[]any{"h", "x", "1"}}}, err: true},
		{name: "bad replica entry", reply: []any{"master", int64(1), []any{"h"}}, err: true},
		{name: "bad slave port", reply: []any{"slave", "h", "p", "connected", int64(1)}, err: true},
		{name: "unknown role", reply: []any{"witness"}, err: true},
		{name: "role not a string", reply: []any{int64(1)}, err: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseRole(tc.reply)
			if tc.err {
				if !errors.Is(err, ErrBadRole) {
					t.Fatalf("err = %v, want ErrBadRole", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseRole: %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestMajorVersion(t *testing.T) {
	for v, want := range map[string]int{"7.0.15": 7, "4.0.14": 4, "10.1": 10, "": 0, "x.y": 0} {
		if got := majorVersion(v); got != want {
			t.Errorf("majorVersion(%q) = %d, want %d", v, got, want)
		}
	}
}

// fakeReply stands in for a go-redis error reply.
type fakeReply string

func (e fakeReply) Error() string { return string(e) }
func (fakeReply) RedisError()     {}

func TestClassifyPing(t *testing.T) {
	tests := []struct {
		err  error
		want int
	}{
		{nil, pingValid},
		{fakeReply("LOADING Redis is loading the dataset in memory"), pingValid},
		{fakeReply("MASTERDOWN Link with MASTER is down and replica-serve-stale-data is set to 'no'."), pingValid},
		{fakeReply("BUSY Redis is busy running a script."), pingInvalid},
		{fakeReply("NOAUTH Authentication required."), pingAuthRefused},
		{fakeReply("WRONGPASS invalid username-password pair or user is disabled."), pingAuthRefused},
		{fakeReply("ERR invalid password"), pingAuthRefused},
		{fakeReply("NOPERM User probe has no permissions to run the 'ping' command"), pingInvalid},
		{fakeReply("MISCONF Errors writing to the RDB"), pingInvalid},
		// Wrapped, as go-redis reports a failed connection setup.
		{errors.Join(errors.New("failed to initialize connection options"), fakeReply("LOADING x")), pingValid},
		{errors.Join(errors.New("failed to authenticate"), fakeReply("WRONGPASS invalid")), pingAuthRefused},
		{errors.Join(errors.New("failed to initialize connection options"), fakeReply("NOAUTH HELLO must be called with the client already authenticated")), pingAuthRefused},
		{errors.New("i/o timeout"), pingNoReply},
		{errors.New("connection refused"), pingNoReply},
	}
	for _, tc := range tests {
		if got := classifyPing(tc.err); got != tc.want {
			t.Errorf("classifyPing(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}
