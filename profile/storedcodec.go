package profile

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/events"
)

// Values of StoreProfiles start with a format byte. JSON (what versions
// before the binary encoding wrote, to stores and changelogs) starts with
// '{' or white space and still decodes; every write is the binary form.
const (
	formatStoredV1 byte = 1 // storedSerde's binary layout, below
)

// storedSerde encodes stored in a compact binary layout: the profile
// update's fields, then the bookkeeping, in declaration order. Integers
// are varints, strings and lists carry their length first, times are Unix
// seconds and nanoseconds (decoded in UTC, as JSON gave them). Map entries
// are written in key order, so equal values encode to equal bytes.
//
// The profile is read and written on every event: encoding/json was 42 %
// of the task core's CPU (issue 12).
type storedSerde struct{}

var storedCodec codec.Serde[stored] = storedSerde{}

func (storedSerde) Encode(_ string, s stored) ([]byte, error) {
	return appendStored(make([]byte, 0, 256), &s), nil
}

func (storedSerde) Decode(topic string, b []byte) (stored, error) {
	if len(b) == 0 {
		return stored{}, fmt.Errorf("%w: %s: empty stored profile", codec.ErrMalformed, topic)
	}
	switch b[0] {
	case formatStoredV1:
		var s stored
		r := reader{b: b[1:]}
		r.stored(&s)
		if r.err == nil && len(r.b) != 0 {
			r.err = fmt.Errorf("%d trailing bytes", len(r.b))
		}
		if r.err != nil {
			return stored{}, fmt.Errorf("%w: %s: stored profile (format %d): %v", codec.ErrMalformed, topic, b[0], r.err)
		}
		return s, nil
	case '{', ' ', '\t', '\r', '\n':
		var s stored
		if err := json.Unmarshal(b, &s); err != nil {
			return stored{}, fmt.Errorf("%w: %s: stored profile (JSON): %v", codec.ErrMalformed, topic, err)
		}
		return s, nil
	}
	return stored{}, fmt.Errorf("%w: %s: stored profile: unknown format byte %#x", codec.ErrMalformed, topic, b[0])
}

func appendStored(b []byte, s *stored) []byte {
	b = append(b, formatStoredV1)
	p := &s.Profile
	b = appendString(b, p.CustomerID)
	b = appendBool(b, p.Known)
	b = binary.AppendVarint(b, p.Version)
	b = appendTime(b, p.UpdatedAt)
	b = appendTime(b, p.LastEventTime)
	b = appendString(b, p.Segment)
	b = appendString(b, p.Country)
	b = appendTimePtr(b, p.ViewsWindowStart)
	b = binary.AppendVarint(b, p.Views5m)
	b = binary.AppendVarint(b, p.ViewsTotal)
	b = appendStrings(b, p.RecentProducts)
	b = appendStrings(b, p.TopCategories)
	b = appendLen(b, p.CartItems == nil, len(p.CartItems))
	for _, it := range p.CartItems {
		b = appendString(b, it.ProductID)
		b = binary.AppendVarint(b, int64(it.Quantity))
		b = binary.AppendVarint(b, it.UnitPriceCents)
		b = appendString(b, it.Category)
	}
	b = binary.AppendVarint(b, p.CartValueCents)
	b = binary.AppendVarint(b, p.Purchases)
	b = binary.AppendVarint(b, p.LifetimeValueCents)
	b = appendTimePtr(b, p.LastPurchaseTime)
	b = appendBool(b, p.LastPurchaseAfterView)
	b = binary.AppendVarint(b, int64(p.OpenTickets))
	b = appendBool(b, p.AtRisk)

	b = appendCounts(b, s.Categories)
	b = binary.AppendUvarint(b, uint64(len(s.Recent)))
	for _, r := range s.Recent {
		b = appendString(b, r.ID)
		b = binary.AppendVarint(b, r.At)
	}
	b = binary.AppendUvarint(b, uint64(len(s.Windows)))
	for _, w := range s.Windows {
		b = binary.AppendVarint(b, w.Start)
		b = binary.AppendVarint(b, w.Count)
		b = appendCounts(b, w.Categories)
	}
	b = binary.AppendUvarint(b, uint64(len(s.Tickets)))
	for _, k := range sortedKeys(s.Tickets) {
		b = appendString(b, k)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(s.Tickets[k]))
	}
	b = appendString(b, s.LastPurchaseID)
	b = binary.AppendVarint(b, s.CartActivity)
	b = binary.AppendVarint(b, s.CartDeadline)
	return b
}

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
	if len(m) == 1 {
		for k, v := range m {
			return binary.AppendVarint(appendString(b, k), v)
		}
	}
	for _, k := range sortedKeys(m) {
		b = appendString(b, k)
		b = binary.AppendVarint(b, m[k])
	}
	return b
}

// reader decodes the binary layout; the first error sticks and every
// later read returns zero values.
type reader struct {
	b   []byte
	err error
}

var errShort = errors.New("truncated")

func (r *reader) fail(err error) {
	if r.err == nil {
		r.err = err
	}
	r.b = nil
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail(errShort)
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail(errShort)
		return 0
	}
	r.b = r.b[n:]
	return v
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

func (r *reader) stored(s *stored) {
	p := &s.Profile
	p.CustomerID = r.string()
	p.Known = r.bool()
	p.Version = r.varint()
	p.UpdatedAt = r.time()
	p.LastEventTime = r.time()
	p.Segment = r.string()
	p.Country = r.string()
	p.ViewsWindowStart = r.timePtr()
	p.Views5m = r.varint()
	p.ViewsTotal = r.varint()
	p.RecentProducts = r.strings()
	p.TopCategories = r.strings()
	if n := r.listLen(4); n >= 0 {
		p.CartItems = make([]events.CartItem, n)
		for i := range p.CartItems {
			it := &p.CartItems[i]
			it.ProductID = r.string()
			it.Quantity = r.int32()
			it.UnitPriceCents = r.varint()
			it.Category = r.string()
		}
	}
	p.CartValueCents = r.varint()
	p.Purchases = r.varint()
	p.LifetimeValueCents = r.varint()
	p.LastPurchaseTime = r.timePtr()
	p.LastPurchaseAfterView = r.bool()
	p.OpenTickets = r.int32()
	p.AtRisk = r.bool()

	s.Categories = r.counts()
	if n := r.count(2); n > 0 {
		s.Recent = make([]seenProduct, n)
		for i := range s.Recent {
			s.Recent[i] = seenProduct{ID: r.string(), At: r.varint()}
		}
	}
	if n := r.count(3); n > 0 {
		s.Windows = make([]viewWindow, n)
		for i := range s.Windows {
			w := &s.Windows[i]
			w.Start = r.varint()
			w.Count = r.varint()
			w.Categories = r.counts()
		}
	}
	if n := r.count(9); n > 0 {
		s.Tickets = make(map[string]float64, n)
		for range n {
			k := r.string()
			if len(r.b) < 8 {
				r.fail(errShort)
				return
			}
			s.Tickets[k] = math.Float64frombits(binary.LittleEndian.Uint64(r.b))
			r.b = r.b[8:]
		}
	}
	s.LastPurchaseID = r.string()
	s.CartActivity = r.varint()
	s.CartDeadline = r.varint()
}
