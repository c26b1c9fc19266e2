package state

import (
	"bytes"
	"math"
	"slices"
)

// lowWatermark remembers where the live entries of a store's time index
// begin: once known, no index entry has a time before t. Time-ordered
// scans (expiry, fetch-all) start there instead of at the start of the
// index, so they never walk again over what earlier expiries deleted
// (which Pebble keeps as tombstones until a compaction).
//
// It also keeps a read-ahead of the index: a scanning expiry reads up to
// aheadMax live entries past its bound, and the expiries that follow
// delete from that list without opening an iterator (an iterator over
// the pending overlays and Pebble costs microseconds, and stream time
// moves the bound a little on almost every record). Puts and deletes
// through the store keep the list exact.
//
// It lives in memory only and starts unknown: the first expiry after a
// store is made scans from the start of the index once. A rewind, a
// restart or a restore makes a new store (or resets a shared
// IndexWatermark), so the watermark can never claim more than the data
// under it shows.
//
// The mark and the read-ahead are only on when every store over the kv
// shares one watermark (a WatermarkHolder): the two processors of a
// stream-stream join each layer a store over the same kv, and a mark or
// list one of them keeps must see the other's writes.
type lowWatermark struct {
	t      int64
	known  bool
	shared bool
	// cleared is the bound of the last expiry: index keys before it were
	// range-deleted. The next expiry's range delete starts there (nothing
	// is live between it and t), so consecutive ones join into one range.
	cleared int64

	// hi, when hiKnown, is a time no index entry is at or after (shared
	// watermarks only): gets and fetches of windows from there on answer
	// without a lookup. Stream time is mostly the newest time in a store,
	// so a join's lookups at it mostly find nothing. hiRetry counts the
	// gets left before learning hi is tried again.
	hi      int64
	hiKnown bool
	hiRetry int

	// ahead is, in index order, a copy of every live index key with a
	// time before aheadEnd, when aheadOK.
	ahead    [][]byte
	aheadEnd int64
	aheadOK  bool
}

// IndexWatermark is what the window or session stores over one
// KeyValueStore know of its time index, shared by all of them. The zero
// value knows nothing.
type IndexWatermark struct{ w lowWatermark }

// Reset forgets what is known: call it when the store's content changes
// other than through the window or session stores over it (writes
// dropped by an abort).
func (x *IndexWatermark) Reset() { x.w = lowWatermark{shared: x.w.shared} }

// WatermarkHolder is implemented by a KeyValueStore that keeps one
// IndexWatermark for every window or session store over it (and resets
// it when its content changes under them). Expiries over such a store
// read ahead; over others they scan each time.
type WatermarkHolder interface {
	IndexWatermark() *IndexWatermark
}

// watermarkOf returns kv's shared watermark, or a store's own one.
func watermarkOf(kv KeyValueStore) *lowWatermark {
	if h, ok := kv.(WatermarkHolder); ok {
		x := h.IndexWatermark()
		x.w.shared = true
		return &x.w
	}
	return &lowWatermark{}
}

// learnMax bounds the index entries a store reads to learn hi; a store
// with more entries at or after the time asked waits learnRetry gets.
const (
	learnMax   = 64
	learnRetry = 1024
)

// noneFrom reports whether kv's time index holds no entry at or after t,
// without a lookup when it can; it learns hi if it does not know it.
func (w *lowWatermark) noneFrom(kv KeyValueStore, t int64) (bool, error) {
	if !w.shared {
		return false, nil
	}
	if !w.hiKnown {
		if w.hiRetry > 0 {
			w.hiRetry--
			return false, nil
		}
		if err := w.learnHi(kv, t); err != nil {
			return false, err
		}
	}
	return w.knownNoneFrom(t), nil
}

// knownNoneFrom reports whether it is known, without a lookup, that no
// index entry is at or after t.
func (w *lowWatermark) knownNoneFrom(t int64) bool { return w.hiKnown && t >= w.hi }

// learnHi reads the index entries at or after t: if they are few, hi is
// just past the last one.
func (w *lowWatermark) learnHi(kv KeyValueStore, t int64) error {
	it := kv.Range(indexTimeBound(t), []byte{tagIndex + 1})
	n, hi := 0, t
	for it.Next() {
		if n++; n > learnMax {
			w.hiRetry = learnRetry
			return it.Close()
		}
		hi = max(hi, indexTime(it.Key())+1)
	}
	if err := it.Close(); err != nil {
		return err
	}
	if hi > t || n == 0 { // else the last entry is at math.MaxInt64
		w.hi, w.hiKnown = hi, true
	}
	return nil
}

// aheadMax bounds the index keys an expiry reads past its bound.
const aheadMax = 256

// indexTime is the first time of an index key (0 for a key too short to
// be one; the callers made it with indexKey).
func indexTime(ik []byte) int64 {
	if len(ik) < 9 {
		return 0
	}
	return decTime(ik[1:9])
}

// added notes the index entry ik: a put may land below the mark (a store
// does not police lateness; its callers do).
func (w *lowWatermark) added(ik []byte) {
	t := indexTime(ik)
	if w.known && t < w.t {
		w.t = t
	}
	if w.hiKnown && t >= w.hi {
		w.hi, w.hiKnown = t+1, t < math.MaxInt64
	}
	if w.aheadOK && t < w.aheadEnd {
		if i, found := w.find(ik); !found {
			w.ahead = slices.Insert(w.ahead, i, append([]byte(nil), ik...))
		}
	}
}

// removed notes that the index entry ik is gone.
func (w *lowWatermark) removed(ik []byte) {
	if w.aheadOK && indexTime(ik) < w.aheadEnd {
		if i, found := w.find(ik); found {
			w.ahead = slices.Delete(w.ahead, i, i+1)
		}
	}
}

func (w *lowWatermark) find(ik []byte) (int, bool) {
	return slices.BinarySearchFunc(w.ahead, ik, bytes.Compare)
}

// covers reports whether the read-ahead holds every live entry before t.
func (w *lowWatermark) covers(t int64) bool { return w.aheadOK && t <= w.aheadEnd }

// takeBefore removes and returns the read-ahead entries before t; they
// alias the list until the next change of it.
func (w *lowWatermark) takeBefore(t int64) [][]byte {
	i, _ := slices.BinarySearchFunc(w.ahead, t, func(ik []byte, t int64) int {
		if indexTime(ik) < t {
			return -1
		}
		return 1
	})
	out := w.ahead[:i]
	w.ahead = w.ahead[i:]
	return out
}

// readAhead starts a new read-ahead: the caller appends the live entries
// after its bound with keep, then ends it with full (the list stopped at
// aheadMax entries, the next one at time next) or done (the index ended).
func (w *lowWatermark) readAhead() { w.ahead, w.aheadOK = make([][]byte, 0, aheadMax), false }

func (w *lowWatermark) keep(ik []byte) { w.ahead = append(w.ahead, append([]byte(nil), ik...)) }

func (w *lowWatermark) aheadFull() bool { return len(w.ahead) >= aheadMax }

// full ends a read-ahead cut short at an entry at time next: entries at
// next are dropped, as the list must hold all of a time or none.
func (w *lowWatermark) full(next int64) {
	for len(w.ahead) > 0 && indexTime(w.ahead[len(w.ahead)-1]) >= next {
		w.ahead = w.ahead[:len(w.ahead)-1]
	}
	w.aheadEnd, w.aheadOK = next, true
}

func (w *lowWatermark) done() { w.aheadEnd, w.aheadOK = math.MaxInt64, true }

// expired notes that every index entry before t is gone, and raises the
// mark to the first live entry the read-ahead knows of.
func (w *lowWatermark) expired(t int64) {
	w.cleared = t
	if !w.shared {
		// Another store over the kv may put below any mark this one
		// keeps, and only a shared watermark hears of it: scan from the
		// start of the index each time.
		return
	}
	if w.aheadOK {
		if len(w.ahead) > 0 {
			t = max(t, indexTime(w.ahead[0]))
		} else {
			t = max(t, w.aheadEnd)
		}
	}
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

// deleteFrom is where an expiry's range delete of index keys starts: at
// the mark, or lower at the last expiry's bound.
func (w *lowWatermark) deleteFrom() []byte {
	if w.known && w.cleared < w.t {
		return indexTimeBound(w.cleared)
	}
	return w.bound()
}

// bound is the lowest index key a scan needs to visit.
func (w *lowWatermark) bound() []byte {
	if !w.known {
		return []byte{tagIndex}
	}
	return indexTimeBound(w.t)
}
