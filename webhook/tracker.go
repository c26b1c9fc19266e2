package webhook

// tracker is one partition's commit bookkeeping: which records still
// have deliveries under way. The offset to commit is that of the first
// record not finished, or the one after the last record when all are:
// a restart from it loses nothing. Not safe for concurrent use.
type tracker struct {
	queue     []*entry // records in offset order, the finished head popped
	byOffset  map[int64]*entry
	next      int64 // the offset after the last record added; -1: none yet
	committed int64 // the last offset committed (or found committed); -1: none
}

type entry struct {
	offset    int64
	remaining int // deliveries not finished
}

func newTracker() *tracker {
	return &tracker{byOffset: map[int64]*entry{}, next: -1, committed: -1}
}

// add records a consumed record with deliveries deliveries to finish (0
// finishes it at once). Offsets must grow; a record at or below the last
// one added (a fetch read again after a rewind) is ignored and reported
// false, since its first copy is being tracked.
func (t *tracker) add(offset int64, deliveries int) bool {
	if offset < t.next {
		return false
	}
	t.next = offset + 1
	if deliveries <= 0 {
		return true
	}
	e := &entry{offset: offset, remaining: deliveries}
	t.queue = append(t.queue, e)
	t.byOffset[offset] = e
	return true
}

// done finishes one delivery of the record at offset.
func (t *tracker) done(offset int64) {
	e, ok := t.byOffset[offset]
	if !ok {
		return
	}
	if e.remaining--; e.remaining > 0 {
		return
	}
	delete(t.byOffset, offset)
	for len(t.queue) > 0 && t.queue[0].remaining == 0 {
		t.queue[0] = nil
		t.queue = t.queue[1:]
	}
}

// commitPoint returns the offset to commit and whether it is ahead of the
// last one committed.
func (t *tracker) commitPoint() (int64, bool) {
	at := t.next
	if len(t.queue) > 0 {
		at = t.queue[0].offset
	}
	return at, at >= 0 && at > t.committed
}

// committedAt notes that offset was committed.
func (t *tracker) committedAt(offset int64) {
	t.committed = max(t.committed, offset)
}

// pending is how many records have deliveries under way.
func (t *tracker) pending() int { return len(t.byOffset) }
