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
type lowWatermark struct {
	t     int64
	known bool
}

// added notes an index entry at time t: a put may land below the mark
// (a store does not police lateness; its callers do).
func (w *lowWatermark) added(t int64) {
	if w.known && t < w.t {
		w.t = t
	}
}

// expired notes that every index entry before t is gone.
func (w *lowWatermark) expired(t int64) {
	if !w.known || t > w.t {
		w.t, w.known = t, true
	}
}

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
