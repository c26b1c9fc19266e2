package state

import "math"

// WindowStore keeps one value per (key, window start), layered over a
// KeyValueStore (layout in layout.go). Times are unix milliseconds.
//
// A WindowStore is not safe for concurrent use.
type WindowStore struct {
	kv  KeyValueStore
	low *lowWatermark
	// key is Get's key: a store never retains the key of a Get.
	key []byte
}

// NewWindowStore layers a window store over kv: nothing but window stores
// over kv may write to it. If kv is a WatermarkHolder, the stores over it
// share what they know of its time index.
func NewWindowStore(kv KeyValueStore) *WindowStore { return &WindowStore{kv: kv, low: watermarkOf(kv)} }

// Put sets the value of key's window that starts at start. Like
// KeyValueStore.Put, it may retain value.
func (w *WindowStore) Put(key []byte, start int64, value []byte) error {
	if err := w.kv.Put(primaryKey(key, start), value); err != nil {
		return err
	}
	ik := indexKey(key, start)
	w.low.added(ik)
	return w.kv.Put(ik, nil)
}

// Get returns the value of key's window that starts at start.
func (w *WindowStore) Get(key []byte, start int64) ([]byte, bool, error) {
	if none, err := w.low.noneFrom(w.kv, start); err != nil || none {
		return nil, false, err
	}
	w.key = encTime(appendKey(append(w.key[:0], tagPrimary), key), start)
	return w.kv.Get(w.key)
}

// Delete removes key's window that starts at start.
func (w *WindowStore) Delete(key []byte, start int64) error {
	if err := w.kv.Delete(primaryKey(key, start)); err != nil {
		return err
	}
	ik := indexKey(key, start)
	w.low.removed(ik)
	return w.kv.Delete(ik)
}

// Fetch iterates key's windows with from <= start <= to, in start order.
func (w *WindowStore) Fetch(key []byte, from, to int64) *WindowIterator {
	// Both bounds in one allocation; the iterator keeps them.
	n := 5 + len(key) + 8
	b := make([]byte, 0, 2*n+1)
	lo := encTime(appendKey(append(b, tagPrimary), key), from)[:n:n]
	hi := lo
	if from <= to {
		hi = append(encTime(appendKey(append(b[n:n], tagPrimary), key), to), 0) // just past the entry at to
	}
	return &WindowIterator{e: entryIter{it: &fetchIter{low: w.low, from: from, open: func() Iterator { return w.kv.Range(lo, hi) }}, n: 1}}
}

// fetchIter is a window fetch that opens its range only if some window
// may start at or after from: at each Next until then, it asks the
// watermark, so writes made while it is open are still seen.
type fetchIter struct {
	low  *lowWatermark
	from int64
	open func() Iterator
	it   Iterator
	done bool
}

func (f *fetchIter) Next() bool {
	if f.it == nil {
		if f.done || f.low.knownNoneFrom(f.from) {
			f.done = true
			return false
		}
		f.it = f.open()
	}
	return f.it.Next()
}

func (f *fetchIter) Key() []byte   { return f.it.Key() }
func (f *fetchIter) Value() []byte { return f.it.Value() }

func (f *fetchIter) Err() error {
	if f.it == nil {
		return nil
	}
	return f.it.Err()
}

func (f *fetchIter) Close() error {
	f.done = true
	if f.it == nil {
		return nil
	}
	return f.it.Close()
}

// FetchAll iterates every window with from <= start <= to, ordered by
// start; windows with the same start come in a fixed order (by key length,
// then key bytes).
func (w *WindowStore) FetchAll(from, to int64) *WindowIterator {
	from = w.low.clamp(from)
	lo := indexTimeBound(from)
	hi := PrefixEnd(indexTimeBound(to))
	if from > to {
		hi = lo
	}
	return &WindowIterator{e: entryIter{
		kv: w.kv, it: w.kv.Range(lo, hi), index: true,
		reorder: func(first int64, _ []int64) []int64 { return []int64{first} },
	}}
}

// ExpireBefore deletes every window whose start is before t. Its cost is
// proportional to the number of expired windows: it starts where the last
// expiry stopped.
func (w *WindowStore) ExpireBefore(t int64) error {
	return expireIndex(w.kv, w.low, t, 0, func(first int64, _ []int64) []int64 { return []int64{first} })
}

// expireIndex deletes the primary entries of every index entry with first
// time < t, then the index entries themselves with one range delete. It
// scans from the low watermark, not from the start of the index, so it
// never walks the deletions of earlier expiries again, and reads ahead
// past t, so the expiries that follow find their entries without a scan
// until t passes what it read.
func expireIndex(kv KeyValueStore, low *lowWatermark, t int64, n int, reorder func(int64, []int64) []int64) error {
	if t == math.MinInt64 || (low.known && t <= low.t) {
		return nil
	}
	lo, hi := low.bound(), indexTimeBound(t)
	from := low.deleteFrom()
	deleteOne := func(ik []byte) error {
		first, key, rest, err := parseIndexKey(ik, n)
		if err != nil {
			return err
		}
		return kv.Delete(primaryKey(key, reorder(first, rest)...))
	}
	if !low.shared {
		// Stores that do not share a watermark cannot trust a
		// read-ahead: another one over the same kv may have written.
		it := kv.Range(lo, hi)
		for it.Next() {
			if err := deleteOne(it.Key()); err != nil {
				it.Close()
				return err
			}
		}
		if err := it.Close(); err != nil {
			return err
		}
	} else if low.covers(t) {
		for _, ik := range low.takeBefore(t) {
			if err := deleteOne(ik); err != nil {
				return err
			}
		}
	} else {
		low.readAhead()
		it := kv.Range(lo, []byte{tagIndex + 1})
		ended := true
		for it.Next() {
			ik := it.Key()
			if first := indexTime(ik); first >= t {
				if low.aheadFull() {
					low.full(first)
					ended = false
					break
				}
				low.keep(ik)
				continue
			}
			if err := deleteOne(ik); err != nil {
				it.Close()
				return err
			}
		}
		if err := it.Close(); err != nil {
			return err
		}
		if ended {
			low.done()
		}
	}
	if err := kv.DeleteRange(from, hi); err != nil {
		return err
	}
	low.expired(t)
	return nil
}

// WindowIterator walks windows. Slices it returns are valid until the next
// call on it or on the store. It must be closed.
type WindowIterator struct{ e entryIter }

// Next advances to the next window and reports whether there is one.
func (i *WindowIterator) Next() bool { return i.e.Next() }

// Key is the user key of the current window.
func (i *WindowIterator) Key() []byte { return i.e.key }

// Start is the start time of the current window.
func (i *WindowIterator) Start() int64 { return i.e.times[0] }

// Value is the value of the current window.
func (i *WindowIterator) Value() []byte { return i.e.value }

// Err returns the first error met while iterating.
func (i *WindowIterator) Err() error { return i.e.Err() }

// Close releases the iterator and returns Err if it is set.
func (i *WindowIterator) Close() error { return i.e.Close() }
