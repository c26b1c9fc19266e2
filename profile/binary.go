package profile

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// The building blocks of the binary state encodings (storedcodec.go,
// rowcodec.go): varints, length-prefixed strings and lists, times as Unix
// seconds and nanoseconds.

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// appendLen writes a list length, 0 for a nil list and n+1 otherwise: the
// profile's lists are published, and a nil list encodes as null in JSON.
func appendLen(b []byte, isNil bool, n int) []byte {
	if isNil {
		return append(b, 0)
	}
	return binary.AppendUvarint(b, uint64(n)+1)
}

func appendStrings(b []byte, ss []string) []byte {
	b = appendLen(b, ss == nil, len(ss))
	for _, s := range ss {
		b = appendString(b, s)
	}
	return b
}

func appendTime(b []byte, t time.Time) []byte {
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

func appendTimePtr(b []byte, t *time.Time) []byte {
	if t == nil {
		return append(b, 0)
	}
	return appendTime(append(b, 1), *t)
}

func appendCounts(b []byte, m map[string]int64) []byte {
	b = binary.AppendUvarint(b, uint64(len(m)))
	// Entries sorted by key in a stack buffer: no allocation and no
	// second map lookup for a small map (the profile has a few
	// categories).
	var buf [16]countEntry
	es := buf[:0]
	for k, v := range m {
		es = append(es, countEntry{k, v})
	}
	slices.SortFunc(es, func(a, b countEntry) int { return strings.Compare(a.k, b.k) })
	for _, e := range es {
		b = appendString(b, e.k)
		b = binary.AppendVarint(b, e.v)
	}
	return b
}

type countEntry struct {
	k string
	v int64
}

// sortedInto appends m's keys to keys, sorted: with a stack buffer, no
// allocation for a small map.
func sortedInto[V any](keys []string, m map[string]V) []string {
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// reader decodes the binary layout; the first error sticks and every
// later read returns zero values. It reads a string copy of the value, so
// all the strings a value holds share one allocation.
type reader struct {
	b   string
	err error
}

func newReader(b []byte) reader { return reader{b: string(b)} }

var errShort = errors.New("truncated")

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = ""
}

// uvarint is binary.Uvarint over a string.
func (r *reader) uvarint() uint64 {
	var v uint64
	for i := 0; i < len(r.b) && i < binary.MaxVarintLen64; i++ {
		c := r.b[i]
		if c < 0x80 {
			if i == binary.MaxVarintLen64-1 && c > 1 {
				break // overflow
			}
			r.b = r.b[i+1:]
			return v | uint64(c)<<(7*i)
		}
		v |= uint64(c&0x7f) << (7 * i)
	}
	r.fail(errShort)
	return 0
}

// varint is binary.Varint (zig-zag) over a string.
func (r *reader) varint() int64 {
	u := r.uvarint()
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

func (r *reader) float64() float64 {
	if len(r.b) < 8 {
		r.fail(errShort)
		return 0
	}
	var u uint64
	for i := 7; i >= 0; i-- {
		u = u<<8 | uint64(r.b[i])
	}
	r.b = r.b[8:]
	return math.Float64frombits(u)
}

func (r *reader) int32() int32 {
	v := r.varint()
	if v < math.MinInt32 || v > math.MaxInt32 {
		r.fail(fmt.Errorf("int32 out of range: %d", v))
		return 0
	}
	return int32(v)
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.fail(errShort)
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) bool() bool {
	switch r.byte() {
	case 0:
		return false
	case 1:
		return true
	}
	r.fail(errors.New("bad bool"))
	return false
}

// count reads a length and checks it against the bytes left, each element
// taking at least min bytes, so a corrupt length cannot allocate much.
func (r *reader) count(min int) int {
	n := r.uvarint()
	if n > uint64(len(r.b)/min) {
		r.fail(fmt.Errorf("length %d exceeds the %d bytes left", n, len(r.b)))
		return 0
	}
	return int(n)
}

// listLen reads appendLen's length: -1 for a nil list.
func (r *reader) listLen(min int) int {
	n := r.uvarint()
	if n == 0 {
		return -1
	}
	if n-1 > uint64(len(r.b)/min) {
		r.fail(fmt.Errorf("length %d exceeds the %d bytes left", n-1, len(r.b)))
		return 0
	}
	return int(n - 1)
}

func (r *reader) string() string {
	n := r.count(1)
	s := string(r.b[:n])
	r.b = r.b[n:]
	return s
}

func (r *reader) strings() []string {
	n := r.listLen(1)
	if n < 0 {
		return nil
	}
	ss := make([]string, n)
	for i := range ss {
		ss[i] = r.string()
	}
	return ss
}

func (r *reader) time() time.Time {
	sec := r.varint()
	ns := r.uvarint()
	if ns >= 1e9 {
		r.fail(fmt.Errorf("nanoseconds out of range: %d", ns))
		return time.Time{}
	}
	return time.Unix(sec, int64(ns)).UTC()
}

func (r *reader) timePtr() *time.Time {
	if !r.bool() {
		return nil
	}
	t := r.time()
	return &t
}

func (r *reader) counts() map[string]int64 {
	n := r.count(2)
	if n == 0 {
		return nil
	}
	m := make(map[string]int64, n)
	for range n {
		k := r.string()
		m[k] = r.varint()
	}
	return m
}

func appendStringPtr(b []byte, s *string) []byte {
	if s == nil {
		return append(b, 0)
	}
	return appendString(append(b, 1), *s)
}

func (r *reader) stringPtr() *string {
	if !r.bool() {
		return nil
	}
	s := r.string()
	return &s
}
