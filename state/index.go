package state

import (
	"encoding/binary"
	"fmt"
)

// Index describes the derived keys of a window or session store: its time
// index, which holds nothing its primary entries do not. A changelog need
// not carry it (Pending.Changes leaves it out when the Pending is made
// WithIndex), and restore rebuilds it from the primary entries (Derive).
type Index struct {
	times int // times in a primary key
}

var (
	// WindowIndex is the time index of a WindowStore.
	WindowIndex = &Index{times: 1}
	// SessionIndex is the time index of a SessionStore.
	SessionIndex = &Index{times: 2}
)

// derived reports whether k is an index key.
func (x *Index) derived(k []byte) bool { return len(k) > 0 && k[0] == tagIndex }

// Derived reports whether k is an index key, which a changelog leaves out.
func (x *Index) Derived(k []byte) bool { return x.derived(k) }

// logged returns the parts of r outside the index, in order.
func (x *Index) logged(r KeyRange) []KeyRange {
	lo, hi := []byte{tagIndex}, []byte{tagIndex + 1}
	var out []KeyRange
	if less(r.Start, lo) {
		end := r.End
		if end == nil || !less(end, lo) {
			end = lo
		}
		out = append(out, KeyRange{Start: r.Start, End: end})
	}
	if r.End == nil || less(hi, r.End) {
		start := r.Start
		if less(start, hi) {
			start = hi
		}
		out = append(out, KeyRange{Start: start, End: r.End})
	}
	return out
}

func less(a, b []byte) bool { return string(a) < string(b) }

// Derive appends records to dst with the index rebuilt: every index
// record is dropped (changelogs written before the index was left out
// carry them), and each primary record gets its index record, a put for a
// put and a tombstone for a tombstone. The primary records come first,
// then the index records in the same order (they are different keys, so
// only the order among each kind matters), which keeps each run close to
// key order for Pebble. The index keys are new slices; the rest are
// shared with records.
func (x *Index) Derive(dst, records []Change) ([]Change, error) {
	n := len(dst)
	for _, r := range records {
		if !x.derived(r.Key) {
			dst = append(dst, r)
		}
	}
	for _, r := range dst[n:] {
		k, err := x.indexOf(r.Key)
		if err != nil {
			return dst, err
		}
		ix := Change{Key: k, Tombstone: r.Tombstone}
		if !r.Tombstone {
			ix.Value = []byte{}
		}
		dst = append(dst, ix)
	}
	return dst, nil
}

// indexOf returns the index key of primary key b: 'k' | len | key | t1 |
// rest becomes 't' | t1 | len | key | rest, with the times' bytes moved
// as they are.
func (x *Index) indexOf(b []byte) ([]byte, error) {
	if len(b) < 5 || b[0] != tagPrimary {
		return nil, fmt.Errorf("%w: changelog record of a %s: key %q", ErrCorrupt, x, b)
	}
	kl := 5 + int(binary.BigEndian.Uint32(b[1:5]))
	if len(b) != kl+8*x.times {
		return nil, fmt.Errorf("%w: changelog record of a %s: key %q", ErrCorrupt, x, b)
	}
	out := make([]byte, 0, len(b))
	out = append(out, tagIndex)
	out = append(out, b[kl:kl+8]...)
	out = append(out, b[1:kl]...)
	return append(out, b[kl+8:]...), nil
}

func (x *Index) String() string {
	if x.times == 2 {
		return "session store"
	}
	return "window store"
}
