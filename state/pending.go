package state

import (
	"bytes"
	"sort"
)

// KeyRange is the keys in [Start, End); a nil End means to the last key.
type KeyRange struct {
	Start, End []byte
}

func (r KeyRange) contains(k []byte) bool {
	return bytes.Compare(k, r.Start) >= 0 && (r.End == nil || bytes.Compare(k, r.End) < 0)
}

// Batch is a set of writes that a backend applies atomically: first the
// range deletes, then the point writes, so a point written after a range
// delete survives it. *Pending is a Batch.
type Batch interface {
	// RangeDeletes returns disjoint ranges in ascending order.
	RangeDeletes() []KeyRange
	// EachPoint calls fn for every point write in ascending key order; a
	// tombstone is a delete. fn must not retain the slices.
	EachPoint(fn func(key, value []byte, tombstone bool) error) error
}

// Pending holds a task's writes since its last commit in memory, in front
// of the committed store (the base), so that reads see them
// (read-your-writes) while nothing reaches the base before the Kafka
// transaction commits.
//
// It is also the write-back cache: a key written many times between two
// commits is one entry, so it becomes one changelog record and one write
// to the base. Deletes are kept as tombstones and range deletes as ranges,
// so they hide base keys without touching the base.
//
// A Pending is owned by one task and is not safe for concurrent use.
// It never writes to the base: after the transaction commits, the runtime
// applies it (as a Batch) to the backend and calls Reset; on abort it just
// calls Reset.
type Pending struct {
	base   KeyValueStore
	points *skipList // a nil value is a tombstone
	ranges []KeyRange
	index  *Index // derived keys Changes leaves out; nil: none
}

var _ Batch = (*Pending)(nil)

// PendingOpt configures NewPending.
type PendingOpt func(*Pending)

// WithIndex says the store is a window or session store whose time index
// is derived: Changes leaves index keys out of the changelog, and restore
// rebuilds them (Index.Derive). Default: none, every key is logged.
func WithIndex(x *Index) PendingOpt { return func(p *Pending) { p.index = x } }

// NewPending returns an empty overlay in front of base.
func NewPending(base KeyValueStore, opts ...PendingOpt) *Pending {
	p := &Pending{base: base, points: newSkipList()}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Index returns the derived index given WithIndex, or nil.
func (p *Pending) Index() *Index { return p.index }

// Base returns the store under the overlay.
func (p *Pending) Base() KeyValueStore { return p.base }

// SetBase puts the overlay in front of base instead, keeping its writes.
// A runtime that stacks overlays (one per commit interval in flight)
// restacks them with it. No iterator of p may be open.
func (p *Pending) SetBase(base KeyValueStore) { p.base = base }

// Len is the number of pending point writes (puts and deletes).
func (p *Pending) Len() int { return p.points.n }

// Empty reports whether there is nothing pending.
func (p *Pending) Empty() bool { return p.points.n == 0 && len(p.ranges) == 0 }

// Reset drops every pending write.
func (p *Pending) Reset() {
	p.points.reset()
	p.ranges = p.ranges[:0]
}

// covered reports whether a range delete hides base key k.
func (p *Pending) covered(k []byte) bool {
	_, ok := p.covering(k)
	return ok
}

// covering returns the range delete that hides base key k, if any.
func (p *Pending) covering(k []byte) (KeyRange, bool) {
	// The last range starting at or before k is the only candidate.
	i := sort.Search(len(p.ranges), func(i int) bool { return bytes.Compare(p.ranges[i].Start, k) > 0 })
	if i > 0 && p.ranges[i-1].contains(k) {
		return p.ranges[i-1], true
	}
	return KeyRange{}, false
}

// Get returns the pending value of key if there is one, else the base's.
func (p *Pending) Get(key []byte) ([]byte, bool, error) {
	if n, ok := p.points.get(key); ok {
		return n.value, n.value != nil, nil
	}
	if p.covered(key) {
		return nil, false, nil
	}
	return p.base.Get(key)
}

// Put records key = value.
func (p *Pending) Put(key, value []byte) error {
	if value == nil {
		value = []byte{}
	}
	p.points.set(key, value)
	return nil
}

// Delete records a tombstone for key.
func (p *Pending) Delete(key []byte) error {
	p.points.set(key, nil)
	return nil
}

// DeleteRange drops pending writes in [start, end) and records a range
// delete hiding the base's keys there. A nil end means to the last key.
func (p *Pending) DeleteRange(start, end []byte) error {
	if start == nil {
		start = []byte{}
	}
	if end != nil && bytes.Compare(start, end) >= 0 {
		return nil
	}
	p.points.deleteRange(start, end)
	p.ranges = addRange(p.ranges, KeyRange{Start: start, End: end})
	return nil
}

// addRange adds r to rs, disjoint and in order. A range starting at or
// after the last one (what expiries, which move forward, write) can only
// touch the last: no sort.
func addRange(rs []KeyRange, r KeyRange) []KeyRange {
	n := len(rs)
	if n == 0 {
		return append(rs, r)
	}
	if bytes.Compare(rs[n-1].Start, r.Start) > 0 {
		return mergeRanges(append(rs, r))
	}
	last := &rs[n-1]
	if last.End != nil && bytes.Compare(r.Start, last.End) > 0 {
		return append(rs, r)
	}
	if last.End != nil && (r.End == nil || bytes.Compare(r.End, last.End) > 0) {
		last.End = r.End
	}
	return rs
}

// mergeRanges sorts ranges and joins the overlapping and touching ones.
func mergeRanges(rs []KeyRange) []KeyRange {
	sort.Slice(rs, func(i, j int) bool { return bytes.Compare(rs[i].Start, rs[j].Start) < 0 })
	out := rs[:0]
	for _, r := range rs {
		if n := len(out); n > 0 {
			last := &out[n-1]
			if last.End == nil || bytes.Compare(r.Start, last.End) <= 0 {
				if last.End != nil && (r.End == nil || bytes.Compare(r.End, last.End) > 0) {
					last.End = r.End
				}
				continue
			}
		}
		out = append(out, r)
	}
	return out
}

// RangeDeletes returns the pending range deletes, disjoint and in order.
// The slice is valid until the next write or Reset.
func (p *Pending) RangeDeletes() []KeyRange { return p.ranges }

// EachPoint calls fn for every pending put and delete in key order.
func (p *Pending) EachPoint(fn func(key, value []byte, tombstone bool) error) error {
	for n := p.points.head.next[0]; n != nil; n = n.next[0] {
		if err := fn(n.key, n.value, n.value == nil); err != nil {
			return err
		}
	}
	return nil
}

// Changes calls fn, in key order, for every change the pending writes make
// to the base, as changelog records: a put, or a tombstone (for each
// point delete and for each base key a range delete hides). A changelog
// is compacted by key, so range deletes must become per-key tombstones.
// Keys of a derived index (WithIndex) are left out: a range delete of
// expired index entries costs no scan of the base.
func (p *Pending) Changes(fn func(key, value []byte, tombstone bool) error) error {
	ranges := p.ranges
	if p.index != nil {
		ranges = nil
		for _, r := range p.ranges {
			ranges = append(ranges, p.index.logged(r)...)
		}
		inner := fn
		fn = func(key, value []byte, tombstone bool) error {
			if p.index.derived(key) {
				return nil
			}
			return inner(key, value, tombstone)
		}
	}
	pn := p.points.head.next[0]
	ri := 0
	var bit Iterator
	defer func() {
		if bit != nil {
			bit.Close()
		}
	}()
	// nextHidden returns the next base key hidden by a range delete.
	nextHidden := func() ([]byte, error) {
		for {
			if bit == nil {
				if ri == len(ranges) {
					return nil, nil
				}
				bit = p.base.Range(ranges[ri].Start, ranges[ri].End)
				ri++
			}
			if bit.Next() {
				return bit.Key(), nil
			}
			err := bit.Close()
			bit = nil
			if err != nil {
				return nil, err
			}
		}
	}
	hk, err := nextHidden()
	if err != nil {
		return err
	}
	for pn != nil || hk != nil {
		switch c := compareNil(pn, hk); {
		case c < 0: // a point write
			if err := fn(pn.key, pn.value, pn.value == nil); err != nil {
				return err
			}
			pn = pn.next[0]
		case c > 0: // a hidden base key
			if err := fn(hk, nil, true); err != nil {
				return err
			}
			if hk, err = nextHidden(); err != nil {
				return err
			}
		default: // the point write replaces the hidden key
			if err := fn(pn.key, pn.value, pn.value == nil); err != nil {
				return err
			}
			pn = pn.next[0]
			if hk, err = nextHidden(); err != nil {
				return err
			}
		}
	}
	return nil
}

// compareNil orders a point node against a hidden key; nil is last.
func compareNil(n *skipNode, k []byte) int {
	switch {
	case n == nil:
		return 1
	case k == nil:
		return -1
	}
	return bytes.Compare(n.key, k)
}

// Range iterates the base merged with the pending writes.
func (p *Pending) Range(start, end []byte) Iterator {
	return &pendingIter{p: p, start: start, end: end, base: p.base.Range(start, end)}
}

type pendingIter struct {
	p          *Pending
	start, end []byte

	base     Iterator
	baseOK   bool // base is positioned on an entry not yet consumed
	baseDone bool

	ov        *skipNode // next overlay node at or after the position
	ovVersion uint64
	started   bool

	hidden     int    // hidden base keys stepped over in a row
	last       []byte // copy of the key last returned
	key, value []byte
	err        error
	done       bool
}

func (it *pendingIter) Next() bool {
	if it.done || it.err != nil {
		return false
	}
	pts := it.p.points
	// Refresh the overlay position if the overlay changed: writes between
	// calls are seen for keys after the current one.
	if !it.started || it.ovVersion != pts.version {
		if !it.started {
			it.ov = pts.seekGE(it.start)
		} else {
			it.ov = pts.seekGT(it.last)
		}
		it.ovVersion = pts.version
	}
	it.started = true
	for {
		if it.ov != nil && it.end != nil && bytes.Compare(it.ov.key, it.end) >= 0 {
			it.ov = nil
		}
		if !it.baseOK && !it.baseDone {
			if it.base.Next() {
				it.baseOK = true
			} else {
				it.baseDone = true
				if err := it.base.Err(); err != nil {
					it.err = err
					return false
				}
			}
		}
		var c int
		switch {
		case it.ov == nil && !it.baseOK:
			it.done = true
			it.key, it.value = nil, nil
			return false
		case it.ov == nil:
			c = 1
		case !it.baseOK:
			c = -1
		default:
			c = bytes.Compare(it.ov.key, it.base.Key())
		}
		if c <= 0 { // the overlay entry wins, shadowing an equal base key
			n := it.ov
			it.ov = n.next[0]
			if c == 0 {
				it.baseOK = false
			}
			if n.value == nil {
				continue // tombstone
			}
			return it.emit(n.key, n.value)
		}
		k := it.base.Key()
		it.baseOK = false
		if r, ok := it.p.covering(k); ok {
			if err := it.skipBase(r.End); err != nil {
				it.err = err
				return false
			}
			continue
		}
		return it.emit(k, it.base.Value())
	}
}

// skipBase moves the base past keys hidden by a range delete that ends at
// end (nil: the last key). A few are stepped over; past that the base is
// reopened at end, so a scan never walks a long deleted range key by key.
func (it *pendingIter) skipBase(end []byte) error {
	it.hidden++
	if it.hidden < maxHiddenSteps {
		return nil
	}
	it.hidden = 0
	err := it.base.Close()
	if end == nil || (it.end != nil && bytes.Compare(end, it.end) >= 0) {
		it.baseDone = true
		it.base = emptyIter{}
		return err
	}
	it.base = it.p.base.Range(end, it.end)
	return err
}

// maxHiddenSteps is how many hidden base keys in a row a pending iterator
// steps over before it reopens the base past them: stepping is cheaper
// than a seek for a few.
const maxHiddenSteps = 4

// emptyIter is a closed, exhausted iterator.
type emptyIter struct{}

func (emptyIter) Next() bool    { return false }
func (emptyIter) Key() []byte   { return nil }
func (emptyIter) Value() []byte { return nil }
func (emptyIter) Err() error    { return nil }
func (emptyIter) Close() error  { return nil }

func (it *pendingIter) emit(k, v []byte) bool {
	it.hidden = 0
	it.last = append(it.last[:0], k...)
	it.key, it.value = k, v
	return true
}

func (it *pendingIter) Key() []byte   { return it.key }
func (it *pendingIter) Value() []byte { return it.value }
func (it *pendingIter) Err() error    { return it.err }

func (it *pendingIter) Close() error {
	it.done = true
	err := it.base.Close()
	if it.err != nil {
		return it.err
	}
	return err
}

// ApplyBatch writes b to kv: range deletes first, then points. It is not
// atomic; backends with atomic batches have their own commit.
func ApplyBatch(kv KeyValueStore, b Batch) error {
	for _, r := range b.RangeDeletes() {
		if err := kv.DeleteRange(r.Start, r.End); err != nil {
			return err
		}
	}
	return b.EachPoint(func(k, v []byte, tombstone bool) error {
		if tombstone {
			return kv.Delete(k)
		}
		// The batch may be reset and reused after this: copy.
		return kv.Put(append([]byte(nil), k...), append([]byte{}, v...))
	})
}
