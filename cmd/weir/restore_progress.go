package main

import (
	"fmt"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"go.uber.org/zap"
	"golang.org/x/term"
)

// restoreReporter shows an operator how a state restore goes: restored
// and remaining are totals over the changelog partitions restoring.
type restoreReporter interface {
	update(now time.Time, restored, remaining int64)
}

// newRestoreReporter draws a progress bar on stderr when it is a
// terminal, and logs otherwise (containers, systemd), where a bar's
// carriage returns would flood the log.
func newRestoreReporter(log *zap.Logger) restoreReporter {
	if term.IsTerminal(int(os.Stderr.Fd())) {
		return &restoreBar{}
	}
	return &restoreLog{log: log, every: 5 * time.Second}
}

// restoreLog logs a "restoring state" line at most every `every`, and
// "state restored" when nothing remains.
type restoreLog struct {
	log   *zap.Logger
	every time.Duration

	active bool // a restore is under way
	began  time.Time
	fromN  int64     // restored at began
	lastAt time.Time // last line (or began)
	lastN  int64     // restored at lastAt
}

func (r *restoreLog) update(now time.Time, restored, remaining int64) {
	if !r.active {
		if remaining <= 0 {
			return // a restore that ended in its first batch: nothing to watch
		}
		r.active, r.began, r.fromN, r.lastAt, r.lastN = true, now, restored, now, restored
		r.log.Info("restoring state", zap.Int64("restored", restored), zap.Int64("remaining", remaining))
		return
	}
	if remaining <= 0 {
		r.active = false
		took := now.Sub(r.began)
		r.log.Info("state restored", zap.Int64("records", restored-r.fromN), zap.Duration("took", took.Round(time.Millisecond)),
			zap.String("records/s", fmt.Sprintf("%.0f", perSecond(restored-r.fromN, took))))
		return
	}
	if now.Sub(r.lastAt) < r.every {
		return
	}
	rate := perSecond(restored-r.lastN, now.Sub(r.lastAt))
	eta := "unknown"
	if rate > 0 {
		eta = (time.Duration(float64(remaining) / rate * float64(time.Second))).Round(time.Second).String()
	}
	r.lastAt, r.lastN = now, restored
	r.log.Info("restoring state", zap.Int64("restored", restored), zap.Int64("remaining", remaining),
		zap.String("records/s", fmt.Sprintf("%.0f", rate)), zap.String("eta", eta))
}

func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// restoreBar draws one progress bar per restore, on stderr: stdout
// carries the lines scripts parse.
type restoreBar struct {
	bar   *progressbar.ProgressBar
	fromN int64 // restored when the bar began
}

func (r *restoreBar) update(_ time.Time, restored, remaining int64) {
	if r.bar == nil {
		if remaining <= 0 {
			return
		}
		r.fromN = restored
		r.bar = progressbar.NewOptions64(remaining,
			progressbar.OptionSetWriter(os.Stderr),
			progressbar.OptionSetDescription("restoring state"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("records"),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(os.Stderr) }),
		)
	}
	done := restored - r.fromN
	// More partitions may join the restore: the total grows.
	if total := done + remaining; total != r.bar.GetMax64() {
		r.bar.ChangeMax64(total)
	}
	_ = r.bar.Set64(done)
	if remaining <= 0 {
		_ = r.bar.Finish()
		r.bar = nil
	}
}
