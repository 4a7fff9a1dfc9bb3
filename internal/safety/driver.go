package safety

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/raftsentinel/raftsentinel/internal/benchutil"
	"github.com/raftsentinel/raftsentinel/internal/redisproc"
)

// probeTimeout bounds one command of the driver's checks.
const probeTimeout = 500 * time.Millisecond

// pollEvery is the pause between two rounds of a driver's check.
const pollEvery = 20 * time.Millisecond

// Target is the system under test: its monitors and its data nodes.
type Target struct {
	MasterName string                       // the name the monitors know the master by
	Monitors   []string                     // Sentinel-protocol addresses (raftsentinel or redis-sentinel)
	Nodes      map[string]*redisproc.Server // every redis-server (master and replicas) by address
}

// DriverOptions configure the failovers.
type DriverOptions struct {
	Failovers int    // how many failovers; at least 1
	Seed      uint64 // seed of the random pauses

	// Each kill comes after a random pause in [MinPause, MaxPause], once
	// the topology is healthy; defaults 500 ms and 2 s.
	MinPause, MaxPause time.Duration
	// FailoverWait bounds kill → every monitor answers a new master;
	// default 30 s.
	FailoverWait time.Duration
	// RecoverWait bounds restart of the killed node → it is a replica of the
	// new master with its link up, every monitor sees a healthy topology
	// and the writer has MinProgress acknowledged writes on the new master;
	// default 60 s (Redis Sentinel takes ~10 s to demote a returning master
	// and refreshes a replica's INFO every 10 s).
	RecoverWait time.Duration
	// MinProgress is the number of writes to be acknowledged on each
	// master (the first one included) before it is killed; default 20.
	MinProgress int

	Logf func(format string, args ...any) // progress lines; nil = silent
}

func (o *DriverOptions) defaults() error {
	if o.Failovers < 1 {
		return fmt.Errorf("safety: Failovers %d: must be at least 1", o.Failovers)
	}
	if o.MinPause <= 0 {
		o.MinPause = 500 * time.Millisecond
	}
	if o.MaxPause <= 0 {
		o.MaxPause = 2 * time.Second
	}
	if o.MaxPause < o.MinPause {
		return fmt.Errorf("safety: MaxPause %s below MinPause %s", o.MaxPause, o.MinPause)
	}
	if o.FailoverWait <= 0 {
		o.FailoverWait = 30 * time.Second
	}
	if o.RecoverWait <= 0 {
		o.RecoverWait = 60 * time.Second
	}
	if o.MinProgress <= 0 {
		o.MinProgress = 20
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return nil
}

// ReplicaAtKill is a surviving replica as found 200 ms after the kill,
// before any failover: what it had received from the dead master.
type ReplicaAtKill struct {
	Addr         string
	Offset       int64  // slave_repl_offset; -1 if unknown
	HasLastAcked bool   // it has the last write acknowledged before the kill
	Err          string // why it could not be probed
}

// FailoverRecord is one failover the driver caused.
type FailoverRecord struct {
	N        int           // 1-based
	Old, New string        // killed master, master the monitors agreed on
	Pause    time.Duration // random pause before the kill
	KilledAt time.Time

	Announced time.Duration // kill → every monitor answers New
	Rejoined  time.Duration // kill → the restarted Old is a replica of New with its link up

	InFlightAtKill  int64 // index the writer was attempting at the kill
	AckedAtKill     int   // writes acknowledged before the kill
	LastAckedAtKill int64 // last acknowledged index, read 200 ms after the kill; -1 = none
	AckedAtAnnounce int   // writes acknowledged when every monitor answered New
	AckedAfter      int   // writes acknowledged from then to the next kill (or the end)

	Replicas []ReplicaAtKill // the surviving replicas right after the kill
}

// PromotedBest reports whether the promoted replica had the highest
// replication offset among the survivors at the kill (ties count), and
// whether that could be determined.
func (r FailoverRecord) PromotedBest() (best, known bool) {
	var promoted int64 = -1
	var highest int64 = -1
	for _, x := range r.Replicas {
		if x.Offset < 0 {
			return false, false
		}
		highest = max(highest, x.Offset)
		if x.Addr == r.New {
			promoted = x.Offset
		}
	}
	if promoted < 0 {
		return false, false
	}
	return promoted == highest, true
}

// String is one line describing the failover.
func (r FailoverRecord) String() string {
	var reps []string
	for _, x := range r.Replicas {
		s := fmt.Sprintf("%s offset=%d has-last-acked=%t", x.Addr, x.Offset, x.HasLastAcked)
		if x.Err != "" {
			s += " (" + x.Err + ")"
		}
		if x.Addr == r.New {
			s += " [promoted]"
		}
		reps = append(reps, s)
	}
	return fmt.Sprintf("failover %d: pause %s, killed %s with %d acked (last acked seq %d); survivors: %s; every monitor answers %s after %.3f s; old master a replica again after %.3f s",
		r.N, r.Pause.Round(time.Millisecond), r.Old, r.AckedAtKill, r.LastAckedAtKill, strings.Join(reps, "; "),
		r.New, r.Announced.Seconds(), r.Rejoined.Seconds())
}

// Driver kills the master of a Target again and again.
type Driver struct {
	t   Target
	opt DriverOptions
	rng *rand.Rand
}

// NewDriver validates the options.
func NewDriver(t Target, opt DriverOptions) (*Driver, error) {
	if err := opt.defaults(); err != nil {
		return nil, err
	}
	if t.MasterName == "" || len(t.Monitors) == 0 || len(t.Nodes) < 2 {
		return nil, errors.New("safety: Target needs a master name, monitors and at least two data nodes")
	}
	return &Driver{t: t, opt: opt, rng: rand.New(rand.NewPCG(opt.Seed, opt.Seed^0x5afe7e57))}, nil
}

// Run waits for a healthy topology, then Failovers times: pauses at random,
// SIGKILLs the current master, waits until every monitor answers a new
// master, restarts the killed node, and waits until it is a replica again
// and the writer progressed on the new master. It returns the failovers
// that happened (AckedAfter of the last one is left for the caller, who
// stops the writer) and the first error.
func (d *Driver) Run(ctx context.Context, c *Checker) ([]FailoverRecord, error) {
	cur, err := d.waitAgreed(ctx, "", d.opt.RecoverWait)
	if err != nil {
		return nil, fmt.Errorf("initial master: %w", err)
	}
	var recs []FailoverRecord
	base := 0 // acknowledged writes when cur became the master
	for k := 1; k <= d.opt.Failovers; k++ {
		if err := d.waitHealthy(ctx, cur, c, base); err != nil {
			return recs, fmt.Errorf("before failover %d: %w", k, err)
		}
		pause := d.opt.MinPause + time.Duration(d.rng.Int64N(int64(d.opt.MaxPause-d.opt.MinPause)+1))
		if err := benchutil.Sleep(ctx, pause); err != nil {
			return recs, err
		}
		rec, err := d.failover(ctx, k, cur, pause, c)
		if k > 1 {
			recs[k-2].AckedAfter = rec.AckedAtKill - recs[k-2].AckedAtAnnounce
		}
		if rec.N != 0 {
			recs = append(recs, rec)
		}
		if err != nil {
			return recs, fmt.Errorf("failover %d: %w", k, err)
		}
		d.opt.Logf("%s", rec)
		cur, base = rec.New, rec.AckedAtAnnounce
	}
	if err := d.waitHealthy(ctx, cur, c, base); err != nil {
		return recs, fmt.Errorf("after the last failover: %w", err)
	}
	return recs, nil
}

// failover kills cur and follows the failover until the killed node is a
// replica again. The record is returned (with N set) once the kill
// happened, even with an error.
func (d *Driver) failover(ctx context.Context, k int, cur string, pause time.Duration, c *Checker) (FailoverRecord, error) {
	rec := FailoverRecord{Old: cur, Pause: pause}
	srv, ok := d.t.Nodes[cur]
	if !ok {
		return rec, fmt.Errorf("the monitors name %s, not a node of the topology", cur)
	}
	rec.InFlightAtKill, rec.AckedAtKill, _ = c.Position()
	rec.KilledAt = time.Now()
	if err := srv.Kill(); err != nil {
		return rec, fmt.Errorf("kill %s: %w", cur, err)
	}
	rec.N = k
	d.opt.Logf("failover %d/%d: killed master %s after a %s pause (%d writes acknowledged so far)",
		k, d.opt.Failovers, cur, pause.Round(time.Millisecond), rec.AckedAtKill)
	// The dead master can acknowledge nothing more once its last replies
	// have been read; then see what each survivor received.
	if err := benchutil.Sleep(ctx, 200*time.Millisecond); err != nil {
		return rec, err
	}
	_, _, rec.LastAckedAtKill = c.Position()
	rec.Replicas = d.probeSurvivors(ctx, cur, rec.LastAckedAtKill, c)

	newMaster, err := d.waitAgreed(ctx, cur, d.opt.FailoverWait-time.Since(rec.KilledAt))
	if err != nil {
		return rec, fmt.Errorf("no new master within %s of the kill: %w", d.opt.FailoverWait, err)
	}
	rec.New, rec.Announced = newMaster, time.Since(rec.KilledAt)
	_, rec.AckedAtAnnounce, _ = c.Position()
	if _, ok := d.t.Nodes[newMaster]; !ok {
		return rec, fmt.Errorf("the monitors agree on %s, not a node of the topology", newMaster)
	}

	rctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	err = srv.Restart(rctx)
	cancel()
	if err != nil {
		return rec, fmt.Errorf("restart %s: %w", cur, err)
	}
	err = benchutil.Poll(ctx, d.opt.RecoverWait, pollEvery, func() error { return replicaOf(ctx, cur, newMaster) })
	if err != nil {
		return rec, fmt.Errorf("restarted %s not a replica of %s within %s: %w", cur, newMaster, d.opt.RecoverWait, err)
	}
	rec.Rejoined = time.Since(rec.KilledAt)
	return rec, nil
}

// probeSurvivors reads, on every node but the dead master, its replication
// offset and whether it has the last acknowledged write.
func (d *Driver) probeSurvivors(ctx context.Context, dead string, lastAcked int64, c *Checker) []ReplicaAtKill {
	var out []ReplicaAtKill
	for _, addr := range d.nodeAddrs() {
		if addr == dead {
			continue
		}
		r := ReplicaAtKill{Addr: addr, Offset: -1}
		pctx, cancel := context.WithTimeout(ctx, probeTimeout)
		info, err := redisproc.Command(pctx, addr, "INFO", "replication")
		if err == nil {
			r.Offset, err = strconv.ParseInt(redisproc.InfoField(info, "slave_repl_offset"), 10, 64)
			if err != nil {
				r.Offset = -1
				err = fmt.Errorf("no slave_repl_offset (role %q)", redisproc.InfoField(info, "role"))
			}
		}
		if err == nil && lastAcked >= 0 {
			var v string
			v, err = redisproc.Command(pctx, addr, "GET", c.Key(lastAcked))
			r.HasLastAcked = v == strconv.FormatInt(lastAcked, 10)
		}
		cancel()
		if err != nil {
			r.Err = err.Error()
		}
		out = append(out, r)
	}
	return out
}

func (d *Driver) nodeAddrs() []string {
	var out []string
	for a := range d.t.Nodes {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// waitAgreed waits until every monitor answers the same master, other than
// not, and returns it.
func (d *Driver) waitAgreed(ctx context.Context, not string, timeout time.Duration) (string, error) {
	var got string
	err := benchutil.Poll(ctx, timeout, pollEvery, func() error {
		var err error
		got, err = d.agreed(ctx)
		if err == nil && got == not {
			return fmt.Errorf("every monitor still answers %s", not)
		}
		return err
	})
	return got, err
}

// agreed returns the master every monitor answers, or an error.
func (d *Driver) agreed(ctx context.Context) (string, error) {
	var first string
	var answers []string
	for _, m := range d.t.Monitors {
		a, err := MasterAddr(ctx, m, d.t.MasterName)
		if err != nil {
			return "", err
		}
		answers = append(answers, a)
		if first == "" {
			first = a
		}
	}
	for _, a := range answers {
		if a != first {
			return "", fmt.Errorf("monitors disagree: %v", answers)
		}
	}
	return first, nil
}

// waitHealthy waits until master is healthy (see healthy) and the writer
// has MinProgress writes acknowledged since base.
func (d *Driver) waitHealthy(ctx context.Context, master string, c *Checker, base int) error {
	err := benchutil.Poll(ctx, d.opt.RecoverWait, pollEvery, func() error {
		if err := d.healthy(ctx, master); err != nil {
			return err
		}
		if n := c.Acked() - base; n < d.opt.MinProgress {
			st := c.Stats()
			return fmt.Errorf("%d writes acknowledged by %s so far, want %d (last writer error: %s)", n, master, d.opt.MinProgress, st.LastErr)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("topology around %s not healthy within %s: %w", master, d.opt.RecoverWait, err)
	}
	return nil
}

// healthy checks that every monitor answers master with clean flags and
// knows the other monitors, that every other node is a replica of master
// with its link up, and that every monitor sees each of them so.
func (d *Driver) healthy(ctx context.Context, master string) error {
	_, port, err := net.SplitHostPort(master)
	if err != nil {
		return fmt.Errorf("master address %q: %w", master, err)
	}
	var replicas []string
	for _, a := range d.nodeAddrs() {
		if a == master {
			continue
		}
		if err := replicaOf(ctx, a, master); err != nil {
			return err
		}
		replicas = append(replicas, a)
	}
	for _, m := range d.t.Monitors {
		got, err := MasterAddr(ctx, m, d.t.MasterName)
		if err != nil {
			return err
		}
		if got != master {
			return fmt.Errorf("monitor %s answers %s, want %s", m, got, master)
		}
		fields, err := sentinelMap(ctx, m, "SENTINEL", "MASTER", d.t.MasterName)
		if err != nil {
			return err
		}
		if f := fields["flags"]; f != "master" {
			return fmt.Errorf("monitor %s: master flags %q", m, f)
		}
		if o, want := fields["num-other-sentinels"], strconv.Itoa(len(d.t.Monitors)-1); o != want {
			return fmt.Errorf("monitor %s: num-other-sentinels %s, want %s", m, o, want)
		}
		list, err := sentinelList(ctx, m, "SENTINEL", "REPLICAS", d.t.MasterName)
		if err != nil {
			return err
		}
		for _, r := range replicas {
			f, ok := list[r]
			switch {
			case !ok:
				return fmt.Errorf("monitor %s does not list replica %s", m, r)
			case f["flags"] != "slave":
				return fmt.Errorf("monitor %s: replica %s flags %q", m, r, f["flags"])
			case f["master-link-status"] != "ok" || f["master-port"] != port:
				return fmt.Errorf("monitor %s: replica %s master-port %s master-link-status %s", m, r, f["master-port"], f["master-link-status"])
			}
		}
	}
	return nil
}

// replicaOf checks that addr reports role slave of master with its link up.
func replicaOf(ctx context.Context, addr, master string) error {
	_, port, err := net.SplitHostPort(master)
	if err != nil {
		return fmt.Errorf("master address %q: %w", master, err)
	}
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	info, err := redisproc.Command(pctx, addr, "INFO", "replication")
	if err != nil {
		return fmt.Errorf("INFO replication on %s: %w", addr, err)
	}
	role, mport, link := redisproc.InfoField(info, "role"), redisproc.InfoField(info, "master_port"), redisproc.InfoField(info, "master_link_status")
	if role != "slave" || mport != port || link != "up" {
		return fmt.Errorf("%s: role %q master_port %q master_link_status %q, want a replica of %s with its link up", addr, role, mport, link, master)
	}
	return nil
}

// MasterAddr asks one Sentinel-protocol server for the master's address.
func MasterAddr(ctx context.Context, monitor, name string) (string, error) {
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	v, err := redisproc.Do(pctx, monitor, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)
	if err != nil {
		return "", fmt.Errorf("monitor %s: get-master-addr-by-name: %w", monitor, err)
	}
	arr, ok := v.([]any)
	if !ok || len(arr) != 2 {
		return "", fmt.Errorf("monitor %s: get-master-addr-by-name: unexpected reply %v", monitor, v)
	}
	host, hok := arr[0].(string)
	port, pok := arr[1].(string)
	if !hok || !pok {
		return "", fmt.Errorf("monitor %s: get-master-addr-by-name: unexpected reply %v", monitor, v)
	}
	return net.JoinHostPort(host, port), nil
}

// sentinelArray runs a command on a monitor that replies an array.
func sentinelArray(ctx context.Context, monitor string, args ...string) ([]any, error) {
	pctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	v, err := redisproc.Do(pctx, monitor, args...)
	if err != nil {
		return nil, fmt.Errorf("monitor %s: %s: %w", monitor, strings.Join(args, " "), err)
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("monitor %s: %s: unexpected reply %T", monitor, strings.Join(args, " "), v)
	}
	return arr, nil
}

// sentinelMap runs a command replying one flat field/value array.
func sentinelMap(ctx context.Context, monitor string, args ...string) (map[string]string, error) {
	arr, err := sentinelArray(ctx, monitor, args...)
	if err != nil {
		return nil, err
	}
	return pairs(arr), nil
}

// sentinelList runs a command replying an array of field/value arrays
// (SENTINEL REPLICAS) and returns them by ip:port.
func sentinelList(ctx context.Context, monitor string, args ...string) (map[string]map[string]string, error) {
	arr, err := sentinelArray(ctx, monitor, args...)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]string{}
	for _, e := range arr {
		inner, ok := e.([]any)
		if !ok {
			return nil, fmt.Errorf("monitor %s: %s: unexpected element %T", monitor, strings.Join(args, " "), e)
		}
		m := pairs(inner)
		out[net.JoinHostPort(m["ip"], m["port"])] = m
	}
	return out, nil
}

func pairs(arr []any) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(arr); i += 2 {
		k, _ := arr[i].(string)
		v, _ := arr[i+1].(string)
		m[k] = v
	}
	return m
}
