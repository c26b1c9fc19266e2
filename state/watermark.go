package state

// lowWatermark remembers where the live entries of a store's time index
// begin: once known, no index entry has a time before t. Time-ordered
// scans (expiry, fetch-all) start there instead of at the start of the
// index, so they never walk again over what earlier expiries deleted
// (which Pebble keeps as tombstones until a compaction).
//
// It lives in memory only and starts unknown: the first expiry after a
// store is made scans from the start of the index once. A rewind, a
// restart or a restore makes a new store, so the watermark can never
// claim more than the data under it shows.
//
// next goes further: no index entry has a time before it either (next >=
// t). An expiry sets it to the first time it sees past its bound, and a
// put lowers it, so an expiry up to next has nothing to delete and does
// not scan at all: between two entries' times, stream time moving costs
// nothing.
type lowWatermark struct {
	t, next int64
	known   bool
}

// added notes an index entry at time t: a put may land below the mark
// (a store does not police lateness; its callers do).
func (w *lowWatermark) added(t int64) {
	if w.known {
		w.t, w.next = min(w.t, t), min(w.next, t)
	}
}

// expired notes that every index entry before t is gone, and that the
// first one left is at next or later.
func (w *lowWatermark) expired(t, next int64) {
	if !w.known || t > w.t {
		w.t, w.known = t, true
	}
	w.next = max(next, w.t)
}

// empty reports whether no index entry can have a time before t.
func (w *lowWatermark) empty(t int64) bool { return w.known && t <= w.next }

// clamp raises a scan's start time to the mark.
func (w *lowWatermark) clamp(from int64) int64 {
	if w.known && from < w.t {
		return w.t
	}
	return from
}

// bound is the lowest index key a scan needs to visit.
func (w *lowWatermark) bound() []byte {
	if !w.known {
		return []byte{tagIndex}
	}
	return indexTimeBound(w.t)
}
