package state

import (
	"bytes"
	"math"
)

// WindowStore keeps one value per (key, window start), layered over a
// KeyValueStore (layout in layout.go). Times are unix milliseconds.
//
// A WindowStore is not safe for concurrent use.
type WindowStore struct {
	kv  KeyValueStore
	low lowWatermark
	// key is Get's key: a store never retains the key of a Get.
	key []byte
}

// NewWindowStore layers a window store over kv, which it owns from now on:
// nothing else may write to kv.
func NewWindowStore(kv KeyValueStore) *WindowStore { return &WindowStore{kv: kv} }

// Put sets the value of key's window that starts at start. Like
// KeyValueStore.Put, it may retain value.
func (w *WindowStore) Put(key []byte, start int64, value []byte) error {
	if err := w.kv.Put(primaryKey(key, start), value); err != nil {
		return err
	}
	w.low.added(start)
	return w.kv.Put(indexKey(key, start), nil)
}

// Get returns the value of key's window that starts at start.
func (w *WindowStore) Get(key []byte, start int64) ([]byte, bool, error) {
	w.key = encTime(appendKey(append(w.key[:0], tagPrimary), key), start)
	return w.kv.Get(w.key)
}

// Delete removes key's window that starts at start.
func (w *WindowStore) Delete(key []byte, start int64) error {
	if err := w.kv.Delete(primaryKey(key, start)); err != nil {
		return err
	}
	return w.kv.Delete(indexKey(key, start))
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
	return &WindowIterator{e: entryIter{it: w.kv.Range(lo, hi), n: 1}}
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
	return expireIndex(w.kv, &w.low, t, 0, func(first int64, _ []int64) []int64 { return []int64{first} })
}

// expireIndex deletes the primary entries of every index entry with first
// time < t, then the index entries themselves with one range delete. It
// scans from the low watermark, not from the start of the index, so it
// never walks the deletions of earlier expiries again, and not at all
// when the watermark knows of no entry before t.
func expireIndex(kv KeyValueStore, low *lowWatermark, t int64, n int, reorder func(int64, []int64) []int64) error {
	if t == math.MinInt64 || (low.known && t <= low.t) {
		return nil
	}
	if low.empty(t) {
		low.expired(t, low.next)
		return nil
	}
	lo, hi := low.bound(), indexTimeBound(t)
	// Unbounded: the first entry past hi says where the next expiry
	// has work.
	it := kv.Range(lo, nil)
	next, found := int64(math.MaxInt64), false
	for it.Next() {
		k := it.Key()
		if bytes.Compare(k, hi) >= 0 {
			if len(k) >= 9 && k[0] == tagIndex {
				next = decTime(k[1:9])
			}
			break
		}
		first, key, rest, err := parseIndexKey(k, n)
		if err != nil {
			it.Close()
			return err
		}
		if err := kv.Delete(primaryKey(key, reorder(first, rest)...)); err != nil {
			it.Close()
			return err
		}
		found = true
	}
	if err := it.Close(); err != nil {
		return err
	}
	// Nothing found, nothing to hide: no range delete.
	if found {
		if err := kv.DeleteRange(lo, hi); err != nil {
			return err
		}
	}
	low.expired(t, next)
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
