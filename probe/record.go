package probe

import (
	"time"

	"github.com/redis/go-redis/v9"
)

// PING outcome classes (Sentinel §3.1).
const (
	pingValid       = iota // +PONG, -LOADING, -MASTERDOWN
	pingAuthRefused        // -WRONGPASS, -ERR invalid password, -NOAUTH: a reply, but the link is unusable
	pingInvalid            // any other reply (-BUSY, ...): the link is up, the PING stays unanswered
	pingNoReply            // network error, timeout: disconnected
)

func classifyPing(err error) int {
	switch {
	case err == nil, keepLinkAfter(err):
		return pingValid
	case isAuthRefused(err):
		return pingAuthRefused
	case isReply(err):
		return pingInvalid
	default:
		return pingNoReply
	}
}

// isAuthRefused reports whether err is the node refusing the credentials:
// a wrong password or user (WRONGPASS; "ERR invalid password" before Redis
// 6), or none given to a node that requires one (NOAUTH), whether it
// answered the AUTH of the connection setup or the command.
func isAuthRefused(err error) bool {
	return redis.HasErrorPrefix(err, "WRONGPASS") || redis.HasErrorPrefix(err, "NOAUTH") ||
		redis.HasErrorPrefix(err, "invalid password")
}

// pingResult records the outcome of one PING (err nil: a non-error
// reply) whose round trip began at start, calls OnPing and logs link
// transitions; it returns the outcome class. The caller holds n.mu.
func (p *Prober) pingResult(n *node, start time.Time, err error, now time.Time) int {
	rtt := now.Sub(start)
	at := p.opt.Now()
	o := &n.obs
	prevErr := o.LastError
	class := classifyPing(err)
	switch class {
	case pingValid:
		o.Connected, o.LinkBroken, o.AuthRefused = true, false, false
		o.LastPingSent = time.Time{}
		o.LastOKPing = at
		o.LastPingReply = at
		o.LastError = ""
		o.PingLatency = rtt
		n.pingLoading = redis.HasErrorPrefix(err, "LOADING")
	case pingAuthRefused:
		o.Connected, o.LinkBroken, o.AuthRefused = false, false, true
		o.LastPingReply = at
		o.LastError = err.Error()
		if o.LastError != prevErr {
			p.log.Warn("the node refuses the credentials", "addr", n.addr, "user", n.auth.User, "err", err)
		}
	case pingInvalid:
		o.Connected, o.LinkBroken, o.AuthRefused = true, false, false
		o.LastPingReply = at
		o.LastError = err.Error()
		if o.LastError != prevErr {
			p.log.Warn("invalid PING reply", "addr", n.addr, "err", err)
		}
	default:
		o.Connected, o.AuthRefused = false, false
		o.LinkBroken = !isTimeout(err)
		o.LastError = err.Error()
	}
	if p.opt.OnPing != nil {
		p.opt.OnPing(n.addr, rtt, err)
	}
	switch {
	case o.Connected && !n.wasUp:
		p.log.Info("link up", "addr", n.addr, "rtt", rtt)
	case !o.Connected && n.wasUp:
		p.log.Warn("link down", "addr", n.addr, "err", err)
	}
	n.wasUp = o.Connected
	return class
}

// infoFailed records a failed INFO; the fields keep their last good
// values. The caller holds n.mu.
func (p *Prober) infoFailed(n *node, err error) {
	if n.obs.InfoError == "" {
		p.log.Debug("INFO failed", "addr", n.addr, "err", err)
	}
	n.obs.InfoError = err.Error()
}

// infoResult records the reply to an INFO of the given kind: the fields
// of the sections it asked for (replication always; run_id, version and
// the raw text only from a full INFO; loading from a full INFO or the
// persistence section). The caller holds n.mu.
func (p *Prober) infoResult(n *node, kind infoKind, rep reply) {
	err := rep.err
	var in Info
	if err == nil {
		in, err = ParseInfo(rep.bulk)
	}
	if err != nil {
		p.infoFailed(n, err)
		return
	}
	at := p.opt.Now()
	o := &n.obs
	if o.Role != in.Role {
		if o.Role != "" {
			p.log.Info("role changed", "addr", n.addr, "from", o.Role, "to", in.Role)
		}
		o.RoleChangedAt = at
	}
	o.InfoAt = at
	o.InfoError = ""
	o.Role = in.Role
	o.MasterHost = in.MasterHost
	o.MasterPort = in.MasterPort
	o.MasterLinkUp = in.MasterLinkUp
	o.MasterLinkDownMs = in.MasterLinkDownMs
	o.ReplOffset = in.ReplOffset
	o.Priority = in.Priority
	o.ReplicaAnnounced = in.ReplicaAnnounced
	o.Replicas = in.Replicas
	switch kind {
	case infoFull:
		o.RunID = in.RunID
		o.RedisVersion = in.RedisVersion
		o.Loading = in.Loading
		o.InfoText = rep.bulk
		o.InfoTextAt = at
	case infoReplPersist:
		o.Loading = in.Loading
	}
}
