package state

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrCorrupt is returned for stored bytes that cannot be what this
// package wrote: a window or session key of the wrong shape (a store shared
// with something else), or an undecodable checkpoint.
var ErrCorrupt = errors.New("state: corrupt data")

// Window and session stores share one layout over a KeyValueStore:
//
//	'k' | len(key) uint32 BE | key | times...      -> value   (primary)
//	't' | time uint64 BE | len(key) uint32 BE | key | times... -> empty (index)
//
// Times are int64 unix milliseconds with the sign bit flipped, so they
// sort as unsigned big-endian. The primary keyspace groups a key's entries
// together in time order, which makes per-key fetches one range scan. The
// time index makes fetch-all-by-time a range scan and lets expiry find
// exactly the expired entries without scanning live ones. The index is
// derived from the primary entries: changelogs leave it out and restore
// rebuilds it (index.go). The length prefix keeps user keys that are
// prefixes of each other apart.
const (
	tagPrimary byte = 'k'
	tagIndex   byte = 't'
)

func encTime(b []byte, t int64) []byte {
	return binary.BigEndian.AppendUint64(b, uint64(t)^(1<<63))
}

func decTime(b []byte) int64 { return int64(binary.BigEndian.Uint64(b) ^ (1 << 63)) }

func appendKey(b, key []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(key)))
	return append(b, key...)
}

// primaryPrefix is 'k' | len | key.
func primaryPrefix(key []byte) []byte {
	return appendKey(append(make([]byte, 0, 5+len(key)+16), tagPrimary), key)
}

// primaryKey is 'k' | len | key | t1 | t2... .
func primaryKey(key []byte, times ...int64) []byte {
	b := primaryPrefix(key)
	for _, t := range times {
		b = encTime(b, t)
	}
	return b
}

// indexKey is 't' | first | len | key | rest... .
func indexKey(key []byte, first int64, rest ...int64) []byte {
	b := make([]byte, 0, 13+len(key)+8*len(rest))
	b = encTime(append(b, tagIndex), first)
	b = appendKey(b, key)
	for _, t := range rest {
		b = encTime(b, t)
	}
	return b
}

func indexTimeBound(t int64) []byte { return encTime(append(make([]byte, 0, 9), tagIndex), t) }

// parseIndexKey splits an index key into its first time, user key and the
// encoded rest (n further times).
func parseIndexKey(b []byte, n int) (first int64, key []byte, rest []int64, err error) {
	if len(b) < 13 || b[0] != tagIndex {
		return 0, nil, nil, fmt.Errorf("%w: index key %q", ErrCorrupt, b)
	}
	first = decTime(b[1:9])
	kl := int(binary.BigEndian.Uint32(b[9:13]))
	if len(b) != 13+kl+8*n {
		return 0, nil, nil, fmt.Errorf("%w: index key %q", ErrCorrupt, b)
	}
	key = b[13 : 13+kl]
	for i := 0; i < n; i++ {
		off := 13 + kl + 8*i
		rest = append(rest, decTime(b[off:off+8]))
	}
	return first, key, rest, nil
}

// parsePrimaryKey splits a primary key into the user key and n times,
// appended to times.
func parsePrimaryKey(b []byte, n int, times []int64) (key []byte, _ []int64, err error) {
	if len(b) < 5 || b[0] != tagPrimary {
		return nil, nil, fmt.Errorf("%w: key %q", ErrCorrupt, b)
	}
	kl := int(binary.BigEndian.Uint32(b[1:5]))
	if len(b) != 5+kl+8*n {
		return nil, nil, fmt.Errorf("%w: key %q", ErrCorrupt, b)
	}
	key = b[5 : 5+kl]
	for i := 0; i < n; i++ {
		off := 5 + kl + 8*i
		times = append(times, decTime(b[off:off+8]))
	}
	return key, times, nil
}

// PrefixEnd returns the smallest key greater than every key with the
// given prefix, or nil if there is none (the prefix is all 0xff).
func PrefixEnd(prefix []byte) []byte {
	end := append([]byte(nil), prefix...)
	for i := len(end) - 1; i >= 0; i-- {
		end[i]++
		if end[i] != 0 {
			return end[:i+1]
		}
	}
	return nil
}

// entryIter walks primary or index entries and decodes them.
type entryIter struct {
	kv      KeyValueStore // for index walks: where values live
	it      Iterator
	index   bool // walking the index; values come from Get on the primary
	n       int  // times after the first (index) or in total (primary)
	key     []byte
	times   []int64
	value   []byte
	err     error
	filter  func(times []int64) bool
	reorder func(first int64, rest []int64) []int64 // index order -> primary order
}

func (e *entryIter) Next() bool {
	if e.err != nil {
		return false
	}
	for e.it.Next() {
		k := e.it.Key()
		if e.index {
			first, key, rest, err := parseIndexKey(k, e.n)
			if err != nil {
				e.err = err
				return false
			}
			e.key = append(e.key[:0], key...)
			e.times = e.reorder(first, rest)
			if e.filter != nil && !e.filter(e.times) {
				continue
			}
			v, ok, err := e.kv.Get(primaryKey(e.key, e.times...))
			if err != nil {
				e.err = err
				return false
			}
			if !ok {
				e.err = fmt.Errorf("%w: index entry %q without a value", ErrCorrupt, k)
				return false
			}
			e.value = v
			return true
		}
		// e.times is handed out until the next call: reuse it.
		key, times, err := parsePrimaryKey(k, e.n, e.times[:0])
		if err != nil {
			e.err = err
			return false
		}
		if e.filter != nil && !e.filter(times) {
			continue
		}
		e.key, e.times, e.value = key, times, e.it.Value()
		return true
	}
	e.err = e.it.Err()
	return false
}

func (e *entryIter) Err() error { return e.err }

func (e *entryIter) Close() error {
	err := e.it.Close()
	if e.err != nil {
		return e.err
	}
	return err
}
