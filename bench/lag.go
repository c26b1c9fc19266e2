package bench

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Progress is how far a group has committed on the inputs.
type Progress struct {
	Committed int64 // records committed, summed over the inputs' partitions
	Total     int64 // end offsets summed
}

// Lag is how many records are not committed yet.
func (p Progress) Lag() int64 { return p.Total - p.Committed }

// GroupProgress compares group's committed offsets with the inputs' end
// offsets.
func GroupProgress(ctx context.Context, adm *kadm.Client, group string, topics []string) (Progress, error) {
	var p Progress
	ends, err := adm.ListEndOffsets(ctx, topics...)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return p, err
	}
	committed, err := adm.FetchOffsets(ctx, group)
	if err != nil {
		return p, err
	}
	ends.Each(func(lo kadm.ListedOffset) {
		p.Total += lo.Offset
		if c, ok := committed.Lookup(lo.Topic, lo.Partition); ok && c.At > 0 {
			p.Committed += min(c.At, lo.Offset)
		}
	})
	return p, nil
}

// Drain is the timeline of a group draining its inputs.
type Drain struct {
	FirstCommit time.Time // first time some input offset was seen committed
	Done        time.Time // zero lag seen
}

// WaitDrained polls every interval until group has zero lag on topics,
// calling tick (if not nil) with each observation; ctx bounds the wait.
// It returns an error also if the process exits first (exited closed).
func WaitDrained(ctx context.Context, adm *kadm.Client, group string, topics []string, interval time.Duration, exited <-chan struct{}, tick func(Progress)) (Drain, error) {
	var d Drain
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		p, err := GroupProgress(ctx, adm, group, topics)
		now := time.Now()
		if err == nil {
			if d.FirstCommit.IsZero() && p.Committed > 0 {
				d.FirstCommit = now
			}
			if tick != nil {
				tick(p)
			}
			if p.Total > 0 && p.Lag() == 0 {
				d.Done = now
				return d, nil
			}
		}
		select {
		case <-ctx.Done():
			return d, fmt.Errorf("bench: group %s did not drain (last: %v): %w", group, err, ctx.Err())
		case <-exited:
			return d, fmt.Errorf("bench: group %s: the process exited before draining its input", group)
		case <-t.C:
		}
	}
}
