package collect

import (
	"sync"
	"time"
)

// dedup remembers the event ids written lately, so that a client's retry
// of an acknowledged event writes no second record. It is per process:
// the event id in every record lets consumers deduplicate further.
type dedup struct {
	window time.Duration
	max    int

	mu       sync.Mutex
	inflight map[string]chan struct{} // closed when the write ends
	done     map[string]time.Time     // written at
	order    []doneID                 // done, oldest first, from head
	head     int
}

type doneID struct {
	key string
	at  time.Time
}

func newDedup(window time.Duration, max int) *dedup {
	return &dedup{window: window, max: max, inflight: map[string]chan struct{}{}, done: map[string]time.Time{}}
}

// claimResult is what claim found for an id.
type claimResult int

const (
	claimNew       claimResult = iota // the caller writes it
	claimDuplicate                    // written already
	claimWait                         // another request is writing it
)

// claim reserves key for the caller unless it was written within the
// window or is being written; in the latter case wait is closed when
// that write ends, and the caller claims again.
func (d *dedup) claim(key string, now time.Time) (res claimResult, wait <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire(now)
	if _, ok := d.done[key]; ok {
		return claimDuplicate, nil
	}
	if ch, ok := d.inflight[key]; ok {
		return claimWait, ch
	}
	d.inflight[key] = make(chan struct{})
	return claimNew, nil
}

// finish ends the writes of keys the caller claimed: remembered if
// written, forgotten if not (a retry writes them then).
func (d *dedup) finish(keys []string, written bool, now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, k := range keys {
		if ch, ok := d.inflight[k]; ok {
			close(ch)
			delete(d.inflight, k)
		}
		if written {
			d.done[k] = now
			d.order = append(d.order, doneID{k, now})
		}
	}
	d.expire(now)
}

func (d *dedup) expire(now time.Time) {
	for d.head < len(d.order) && (len(d.order)-d.head > d.max || now.Sub(d.order[d.head].at) > d.window) {
		k := d.order[d.head]
		if at, ok := d.done[k.key]; ok && at.Equal(k.at) {
			delete(d.done, k.key)
		}
		d.order[d.head] = doneID{}
		d.head++
	}
	if d.head > 1024 && d.head > len(d.order)/2 { // amortised: copy only what is left
		d.order = append(d.order[:0], d.order[d.head:]...)
		d.head = 0
	}
}

// size is the number of ids remembered.
func (d *dedup) size() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.done)
}
