package webhook

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// commitEvery commits finished offsets every CommitInterval until ctx
// ends.
func (d *Deliverer) commitEvery(ctx context.Context) {
	t := time.NewTicker(d.o.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := d.commit(ctx); err != nil && ctx.Err() == nil {
				d.log.Warn("offset commit failed; retried at the next interval", zap.Error(err))
			}
		}
	}
}

// commit commits, for every assigned partition, the offset of its first
// record not finished (or the end of what it read) when that is ahead of
// its last commit.
func (d *Deliverer) commit(ctx context.Context) error {
	d.mu.Lock()
	offs := map[partitionKey]int64{}
	for k, p := range d.parts {
		if at, ok := p.t.commitPoint(); ok {
			offs[k] = at
		}
	}
	d.mu.Unlock()
	if len(offs) == 0 {
		return nil
	}
	if err := d.kafka.commit(ctx, offs); err != nil {
		return err
	}
	d.mu.Lock()
	for k, at := range offs {
		if p := d.parts[k]; p != nil {
			p.t.committedAt(at)
		}
	}
	d.mu.Unlock()
	return nil
}

// assigned starts tracking partitions the group gave this member.
func (d *Deliverer) assigned(keys []partitionKey) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, k := range keys {
		if d.parts[k] != nil {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		if d.stopped {
			cancel()
		}
		d.parts[k] = &partition{key: k, t: newTracker(), ctx: ctx, cancel: cancel}
	}
}

// revoked stops the partitions' deliveries and returns what to commit
// before the partitions go to another member.
func (d *Deliverer) revoked(keys []partitionKey) map[partitionKey]int64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	offs := map[partitionKey]int64{}
	for _, k := range keys {
		p := d.parts[k]
		if p == nil {
			continue
		}
		p.cancel()
		if at, ok := p.t.commitPoint(); ok {
			offs[k] = at
		}
		delete(d.parts, k)
	}
	return offs
}

// lost drops partitions another member may already have: no commit.
func (d *Deliverer) lost(keys []partitionKey) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, k := range keys {
		if p := d.parts[k]; p != nil {
			p.cancel()
			delete(d.parts, k)
		}
	}
}

// stopAll abandons every delivery under way; the partitions stay, so
// what finished can still be committed.
func (d *Deliverer) stopAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stopped = true
	for _, p := range d.parts {
		p.cancel()
	}
}
