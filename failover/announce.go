package failover

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/raftsentinel/raftsentinel/state"
)

// Resolver looks up the IP addresses of a hostname. *net.Resolver
// implements it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// resolvePeriod is how often the hostnames of Redis nodes in the state are
// resolved again (a Kubernetes pod that restarts keeps its name, not its IP).
const resolvePeriod = 5 * time.Second

// resolveTimeout bounds one lookup.
const resolveTimeout = 2 * time.Second

// announcer turns the address of a Redis node as the state holds it into
// the address this monitor announces in replies and events, as Sentinel's
// announce-hostnames does: with "yes", or for an address that is already an
// IP, the address as configured; with "no" (the default), a hostname is
// replaced by the IP address it last resolved to.
//
// A hostname is looked up on the caller's path only the first time it is
// met (bounded by resolveTimeout); after that a background loop (run)
// resolves every hostname in the state every resolvePeriod, and replies
// read the last result. A hostname that never resolved is announced as it is (there is no better answer; Redis
// Sentinel would have refused the address in SENTINEL MONITOR). When a
// name resolves to several addresses the first IPv4 one is taken, else the
// first one.
//
// A nil *announcer announces every address as it is.
type announcer struct {
	state func() *state.State
	res   Resolver
	log   *slog.Logger

	// hosts maps every host seen on the reply path to what to announce for
	// it: the last resolved IP for a hostname, else the host itself.
	// Copy-on-write: readers never lock.
	hosts atomic.Pointer[map[string]string]
	mu    sync.Mutex // serialises writers of hosts
	// checked caches mayWait's answer for one state and hosts map.
	checked atomic.Pointer[waitCheck]
	// failed remembers hostnames whose last lookup failed, so that the
	// failure is logged once per streak.
	failed map[string]bool
}

func newAnnouncer(state func() *state.State, res Resolver, log *slog.Logger) *announcer {
	a := &announcer{state: state, res: res, log: log, failed: map[string]bool{}}
	a.hosts.Store(&map[string]string{})
	return a
}

// addr returns the announced form of n.
func (a *announcer) addr(n state.Addr) state.Addr {
	if a == nil || n.Host == "" {
		return n
	}
	to, ok := (*a.hosts.Load())[n.Host]
	switch {
	case ok && to == n.Host:
		return n // an IP address
	case ok:
		if a.state().ConfigValue("", "announce-hostnames") == "yes" {
			return n
		}
		return state.Addr{Host: to, Port: n.Port}
	}
	if _, err := netip.ParseAddr(n.Host); err == nil {
		a.set(n.Host, n.Host)
		return n
	}
	if a.state().ConfigValue("", "announce-hostnames") == "yes" {
		return n
	}
	// A hostname met for the first time (a master just added with
	// SENTINEL MONITOR, say): resolve it now, once, as Sentinel does when
	// it creates the instance.
	ip, err := a.resolve(context.Background(), n.Host)
	if err != nil {
		// Announced as it is until the loop resolves it: replies do not
		// wait for a failing lookup again.
		a.set(n.Host, n.Host)
		return n
	}
	a.set(n.Host, ip)
	return state.Addr{Host: ip, Port: n.Port}
}

// waitCheck is mayWait's answer for a state and a hosts map.
type waitCheck struct {
	st    *state.State
	hosts *map[string]string
	wait  bool
}

// mayWait reports whether addr may have to look a hostname of the current
// state up. It is cheap: the answer is recomputed only when the state (a
// new frozen value per applied entry) or the hosts map changed.
func (a *announcer) mayWait() bool {
	if a == nil {
		return false
	}
	st, hosts := a.state(), a.hosts.Load()
	if c := a.checked.Load(); c != nil && c.st == st && c.hosts == hosts {
		return c.wait
	}
	wait := false
	if st.ConfigValue("", "announce-hostnames") != "yes" {
		for _, h := range stateHostnames(st) {
			if _, ok := (*hosts)[h]; !ok {
				wait = true
				break
			}
		}
	}
	a.checked.Store(&waitCheck{st: st, hosts: hosts, wait: wait})
	return wait
}

func (a *announcer) set(host, to string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	old := *a.hosts.Load()
	if cur, ok := old[host]; ok && cur == to {
		return
	}
	next := make(map[string]string, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[host] = to
	a.hosts.Store(&next)
}

// run resolves the hostnames of the state's Redis nodes until ctx is done:
// at once and every resolvePeriod.
func (a *announcer) run(ctx context.Context) {
	t := time.NewTicker(resolvePeriod)
	defer t.Stop()
	for {
		a.resolveAll(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// resolveAll looks up every hostname that names a master, a replica or a
// failover's endpoint in the current state.
func (a *announcer) resolveAll(ctx context.Context) {
	for _, h := range stateHostnames(a.state()) {
		if ctx.Err() != nil {
			return
		}
		ip, err := a.resolve(ctx, h)
		if err != nil {
			if !a.failed[h] {
				a.log.Warn("cannot resolve a Redis node's hostname; announcing the last address it resolved to, or the name itself",
					"host", h, "err", err)
			}
			a.failed[h] = true
			continue
		}
		if a.failed[h] {
			a.log.Info("hostname resolves again", "host", h, "ip", ip)
		}
		delete(a.failed, h)
		a.set(h, ip)
	}
}

func (a *announcer) resolve(ctx context.Context, host string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, resolveTimeout)
	defer cancel()
	ips, err := a.res.LookupNetIP(ctx, "ip", host)
	if err != nil {
		return "", fmt.Errorf("resolve %s: %w", host, err)
	}
	if len(ips) == 0 {
		return "", fmt.Errorf("resolve %s: no address", host)
	}
	pick := ips[0]
	for _, ip := range ips {
		if ip.Unmap().Is4() {
			pick = ip
			break
		}
	}
	return pick.Unmap().String(), nil
}

// stateHostnames returns the distinct hosts of Redis nodes in st that are
// not IP addresses.
func stateHostnames(st *state.State) []string {
	seen := map[string]bool{}
	var out []string
	add := func(n state.Addr) {
		if n.Host == "" || seen[n.Host] {
			return
		}
		seen[n.Host] = true
		if _, err := netip.ParseAddr(n.Host); err != nil {
			out = append(out, n.Host)
		}
	}
	for _, name := range st.MasterNames() {
		ms := st.Masters[name]
		add(ms.Addr)
		for _, r := range ms.Replicas {
			add(r)
		}
		if f := ms.Failover; f != nil {
			add(f.From)
			add(f.To)
		}
	}
	return out
}
