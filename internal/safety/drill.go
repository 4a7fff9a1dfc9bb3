package safety

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// DrillOptions configure one drill: a writer in one acknowledgement mode
// across Driver.Failovers failovers of Target.
type DrillOptions struct {
	Target       Target
	WaitReplicas int           // 0 = plain SET; n = SET + WAIT n
	WaitTimeout  time.Duration // WAIT's timeout; 0 = 500 ms
	Driver       DriverOptions // failovers, seed, bounds, Logf
}

// Report is the outcome of a drill.
type Report struct {
	Mode        string // "no WAIT" or "WAIT n"
	Seed        uint64
	Planned     int              // failovers asked for
	Failovers   []FailoverRecord // failovers that happened (the last may be incomplete on error)
	Completed   int              // failovers that ended with the old master a replica again
	Writer      WriterStats
	Acked       []int64 // the acknowledged indices, increasing
	KeyPrefix   string  // the writer's key prefix
	FinalMaster string
	Verify      VerifyResult
	Verified    bool // Verify ran over every acknowledged write
	// LostPerFailover[k-1] counts the lost writes attempted before kill k
	// and after kill k-1; the last element counts those attempted after the
	// last kill.
	LostPerFailover []int
	Duration        time.Duration
}

// LostPercent is Lost as a percentage of the acknowledged writes.
func (r Report) LostPercent() float64 {
	if r.Writer.Acked == 0 {
		return 0
	}
	return 100 * float64(r.Verify.Lost) / float64(r.Writer.Acked)
}

// Drill starts the writer, runs the failovers, stops the writer, finds the
// final master (every monitor must agree on it) and counts the
// acknowledged writes missing there. On a driver error the verification is
// still attempted; the report is returned with the error.
func Drill(ctx context.Context, opt DrillOptions) (Report, error) {
	start := time.Now()
	rep := Report{Mode: ModeName(opt.WaitReplicas), Seed: opt.Driver.Seed, Planned: opt.Driver.Failovers}
	d, err := NewDriver(opt.Target, opt.Driver)
	if err != nil {
		return rep, err
	}
	c, err := NewChecker(WriterOptions{MasterName: opt.Target.MasterName, SentinelAddrs: opt.Target.Monitors,
		WaitReplicas: opt.WaitReplicas, WaitTimeout: opt.WaitTimeout})
	if err != nil {
		return rep, err
	}
	c.Start(ctx)
	recs, derr := d.Run(ctx, c)
	rep.Writer = c.Stop()
	rep.Acked, rep.KeyPrefix = c.AckedIndices(), c.opt.KeyPrefix
	rep.Failovers = recs
	for i := range recs {
		if recs[i].Rejoined > 0 {
			rep.Completed++
		}
	}
	if n := len(recs); n > 0 && derr == nil {
		recs[n-1].AckedAfter = rep.Writer.Acked - recs[n-1].AckedAtAnnounce
	}
	if derr != nil {
		derr = fmt.Errorf("%s drill: %w", rep.Mode, derr)
	}

	final, err := d.waitAgreed(ctx, "", 10*time.Second)
	if err != nil {
		rep.Duration = time.Since(start)
		return rep, errors.Join(derr, fmt.Errorf("%s drill: final master: %w", rep.Mode, err))
	}
	rep.FinalMaster = final
	rep.Verify, err = Verify(ctx, final, rep.KeyPrefix, rep.Acked)
	if err != nil {
		rep.Duration = time.Since(start)
		return rep, errors.Join(derr, fmt.Errorf("%s drill: %w", rep.Mode, err))
	}
	rep.Verified = rep.Verify.Checked == rep.Writer.Acked
	rep.LostPerFailover = attribute(rep.Verify.LostIdx, recs)
	rep.Duration = time.Since(start)
	if !rep.Verified {
		err = fmt.Errorf("%s drill: verified %d of %d acknowledged writes", rep.Mode, rep.Verify.Checked, rep.Writer.Acked)
	}
	return rep, errors.Join(derr, err)
}

// attribute counts the lost indices per failover window (see
// Report.LostPerFailover). Only the listed indices are attributed.
func attribute(lost []int64, recs []FailoverRecord) []int {
	out := make([]int, len(recs)+1)
	for _, i := range lost {
		k := len(recs)
		for j, r := range recs {
			if i <= r.InFlightAtKill {
				k = j
				break
			}
		}
		out[k]++
	}
	return out
}
