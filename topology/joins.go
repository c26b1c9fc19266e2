package topology

import (
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/weirstream/weir/codec"
	"github.com/weirstream/weir/state"
)

// Joins. Every joiner gets the key. Inner joins call it only when both
// sides exist. Left joins always call it; found is false when the right
// side is missing, and the right value is then the zero value. Outer
// joins pass pointers, either of which (never both) may be nil.
//
// Joins by key need both inputs partitioned alike: topics a join reads
// directly form a co-partition group (Topology.CopartitionGroups, which
// the runtime checks at start), and a stream re-keyed upstream (Map,
// SelectKey...) is repartitioned through <app>-<name>-repartition first,
// a topic with as many partitions as the other side has.

// JoinOpt configures JoinTable and LeftJoinTable.
type JoinOpt interface{ applyJoin(*joinCfg) }

type joinCfg struct {
	streamValues any // codec.Serde[V], checked by the join
}

type joinOptFunc func(*joinCfg)

func (f joinOptFunc) applyJoin(c *joinCfg) { f(c) }

// RepartitionValues gives the serde of the stream's values, needed when a
// re-keyed stream is joined with a table and must be repartitioned first
// (the key serde is the table's). Default: none; joining a re-keyed
// stream without it is a Build error.
func RepartitionValues[V any](vs codec.Serde[V]) JoinOpt {
	return joinOptFunc(func(c *joinCfg) { c.streamValues = vs })
}

// JoinTable enriches each stream record with the table's current value for
// its key; records whose key is not in the table are dropped. The lookup
// sees the table as of the record's turn in event-time order (no versioned
// lookups, as in Kafka Streams); table updates emit nothing.
func JoinTable[K, V, VT, VR any](s Stream[K, V], t Table[K, VT], name string, joiner func(k K, v V, tv VT) VR, opts ...JoinOpt) Stream[K, VR] {
	s.b.checkFunc(joiner != nil, name)
	return streamTableJoin(s, t, name, "join-table", opts, func(k K, v V, tv VT, found bool) (VR, bool) {
		if !found {
			var zero VR
			return zero, false
		}
		return joiner(k, v, tv), true
	})
}

// LeftJoinTable is JoinTable that keeps every stream record: found says
// whether the key was in the table (tv is the zero value if not).
func LeftJoinTable[K, V, VT, VR any](s Stream[K, V], t Table[K, VT], name string, joiner func(k K, v V, tv VT, found bool) VR, opts ...JoinOpt) Stream[K, VR] {
	s.b.checkFunc(joiner != nil, name)
	return streamTableJoin(s, t, name, "left-join-table", opts, func(k K, v V, tv VT, found bool) (VR, bool) {
		return joiner(k, v, tv, found), true
	})
}

func streamTableJoin[K, V, VT, VR any](s Stream[K, V], t Table[K, VT], name, op string, opts []JoinOpt, fn func(K, V, VT, bool) (VR, bool)) Stream[K, VR] {
	b := s.b
	if !b.same(t.b, name) {
		return Stream[K, VR]{b: b, n: &node{}}
	}
	if t.windowed {
		b.errf("%w: %q joins a windowed table; join its ToStream instead", ErrBadOption, name)
	}
	in := joinInput(s, name, t.ks, opts)
	n := b.add(name, op, kindProcessor, []*node{in}, func(nc *nodeCtx) (proc, error) {
		kv, topic, err := nc.store(t.store)
		if err != nil {
			return nil, err
		}
		st := WrapKV(kv, topic, t.ks, t.vs)
		return procFunc(func(m msg) error {
			k := as[K](m.key)
			tv, found, err := st.Get(k)
			if err != nil {
				return err
			}
			out, ok := fn(k, as[V](m.value), tv, found)
			if !ok {
				return nil
			}
			m.value = out
			return nc.forward(m)
		}), nil
	})
	b.useStore(n, t.store)
	return Stream[K, VR]{b: b, n: n}
}

// joinInput is the node a keyed join reads s from: s itself, or a
// repartition of it if its key changed.
func joinInput[K, V any](s Stream[K, V], name string, ks codec.Serde[K], opts []JoinOpt) *node {
	if !s.rekeyed {
		return s.n
	}
	var cfg joinCfg
	for _, o := range opts {
		if o != nil {
			o.applyJoin(&cfg)
		}
	}
	vs, ok := cfg.streamValues.(codec.Serde[V])
	if !ok || vs == nil {
		s.b.errf("%w: %q joins a re-keyed stream: pass RepartitionValues(serde of %T) so it can be repartitioned",
			ErrNilSerde, name, *new(V))
		return s.n
	}
	return repartition(s.b, s.n, name, ks, vs)
}

// JoinGlobal enriches each stream record with the global table's value
// for keyOf(record) (a lookup by any field, e.g. a product id); records
// whose lookup key is absent are dropped. No repartition and no
// co-partitioning: every task holds the whole table.
func JoinGlobal[K, V, KG, VG, VR any](s Stream[K, V], g GlobalTable[KG, VG], name string, keyOf func(k K, v V) KG, joiner func(k K, v V, gv VG) VR) Stream[K, VR] {
	s.b.checkFunc(joiner != nil, name)
	return globalJoin(s, g, name, "join-global", keyOf, func(k K, v V, gv VG, found bool) (VR, bool) {
		if !found {
			var zero VR
			return zero, false
		}
		return joiner(k, v, gv), true
	})
}

// LeftJoinGlobal is JoinGlobal that keeps every record: found says whether
// the lookup key was in the table (gv is the zero value if not).
func LeftJoinGlobal[K, V, KG, VG, VR any](s Stream[K, V], g GlobalTable[KG, VG], name string, keyOf func(k K, v V) KG, joiner func(k K, v V, gv VG, found bool) VR) Stream[K, VR] {
	s.b.checkFunc(joiner != nil, name)
	return globalJoin(s, g, name, "left-join-global", keyOf, func(k K, v V, gv VG, found bool) (VR, bool) {
		return joiner(k, v, gv, found), true
	})
}

func globalJoin[K, V, KG, VG, VR any](s Stream[K, V], g GlobalTable[KG, VG], name, op string, keyOf func(K, V) KG, fn func(K, V, VG, bool) (VR, bool)) Stream[K, VR] {
	b := s.b
	b.checkFunc(keyOf != nil, name+" key extractor")
	if !b.same(g.b, name) {
		return Stream[K, VR]{b: b, n: &node{}}
	}
	n := b.add(name, op, kindProcessor, []*node{s.n}, func(nc *nodeCtx) (proc, error) {
		kv, _, err := nc.store(g.store)
		if err != nil {
			return nil, err
		}
		// A global store holds the topic's raw bytes: decode as the topic.
		st := WrapKV(kv, nc.t.topo.stores[g.store].topic, g.ks, g.vs)
		return procFunc(func(m msg) error {
			k, v := as[K](m.key), as[V](m.value)
			gv, found, err := st.Get(keyOf(k, v))
			if err != nil {
				return err
			}
			out, ok := fn(k, v, gv, found)
			if !ok {
				return nil
			}
			m.value = out
			return nc.forward(m)
		}), nil
	})
	b.useStore(n, g.store)
	return Stream[K, VR]{b: b, n: n, rekeyed: s.rekeyed}
}

// JoinWindows bounds a stream-stream join: a left record at t joins right
// records of the same key with timestamps in [t-before, t+after], both
// ends inclusive (so a right record at t' joins left records in
// [t'-after, t'+before]). Make it with JoinWithin or JoinBetween, then
// Grace: there is no default.
//
// A record's join window closes when stream time reaches its last
// joinable time + 1ms + grace (t+after+1ms+grace for a left record,
// t'+before+1ms+grace for a right one). A record arriving with its window
// already closed is late: counted in TaskStats.Late, written to LateTo's
// topic if set, and joined with nothing. A buffered record whose window
// has closed no longer joins; left and outer joins emit its null-side
// result then, once, if it never joined (Kafka Streams 3.x semantics:
// not eagerly). Both sides are buffered in window stores named
// <name>-left and <name>-right, kept until their windows close.
type JoinWindows struct {
	before, after time.Duration
	grace         time.Duration
	graceSet      bool
	lateTopic     string
}

// JoinWithin joins records at most d apart (before = after = d).
func JoinWithin(d time.Duration) JoinWindows { return JoinWindows{before: d, after: d} }

// JoinBetween joins a left record at t with right records in
// [t-before, t+after].
func JoinBetween(before, after time.Duration) JoinWindows {
	return JoinWindows{before: before, after: after}
}

// Grace admits records up to d behind stream time; use 0 for none.
func (j JoinWindows) Grace(d time.Duration) JoinWindows {
	j.grace, j.graceSet = d, true
	return j
}

// LateTo writes late records to topic as they were read. Default: late
// records are only counted.
func (j JoinWindows) LateTo(topic string) JoinWindows {
	j.lateTopic = topic
	return j
}

func (j JoinWindows) String() string {
	return fmt.Sprintf("before=%s after=%s grace=%s", j.before, j.after, j.grace)
}

func (b *Builder) checkJoinWindows(j JoinWindows, name string) {
	if j.before < 0 || j.after < 0 {
		b.errf("%w: %q: join bounds %s must not be negative", ErrBadWindow, name, j)
	}
	if j.before%time.Millisecond != 0 || j.after%time.Millisecond != 0 || j.grace%time.Millisecond != 0 {
		b.errf("%w: %q: durations must be whole milliseconds", ErrBadWindow, name)
	}
	if !j.graceSet {
		b.errf("%w: %q has no grace period: call .Grace(d); use 0 for none", ErrBadWindow, name)
	} else if j.grace < 0 {
		b.errf("%w: %q: negative grace %s", ErrBadWindow, name, j.grace)
	}
}

// JoinStreams joins records of two streams with the same key whose
// timestamps are within w. The result carries the larger of the two
// timestamps. ks, ls and rs are the serdes of the buffers (and of the
// repartition topics, if a side was re-keyed).
func JoinStreams[K, V1, V2, VR any](l Stream[K, V1], r Stream[K, V2], name string, w JoinWindows, joiner func(k K, lv V1, rv V2) VR, ks codec.Serde[K], ls codec.Serde[V1], rs codec.Serde[V2]) Stream[K, VR] {
	l.b.checkFunc(joiner != nil, name)
	return streamStreamJoin(l, r, name, "join-streams", w, false, false, func(k K, lv *V1, rv *V2) VR {
		return joiner(k, *lv, *rv)
	}, ks, ls, rs)
}

// LeftJoinStreams is JoinStreams that also emits each left record that
// joined nothing, with found false and the zero right value, once its
// window has closed.
func LeftJoinStreams[K, V1, V2, VR any](l Stream[K, V1], r Stream[K, V2], name string, w JoinWindows, joiner func(k K, lv V1, rv V2, found bool) VR, ks codec.Serde[K], ls codec.Serde[V1], rs codec.Serde[V2]) Stream[K, VR] {
	l.b.checkFunc(joiner != nil, name)
	return streamStreamJoin(l, r, name, "left-join-streams", w, true, false, func(k K, lv *V1, rv *V2) VR {
		if rv == nil {
			var zero V2
			return joiner(k, *lv, zero, false)
		}
		return joiner(k, *lv, *rv, true)
	}, ks, ls, rs)
}

// OuterJoinStreams is JoinStreams that also emits each record of either
// side that joined nothing, with a nil other side, once its window has
// closed.
func OuterJoinStreams[K, V1, V2, VR any](l Stream[K, V1], r Stream[K, V2], name string, w JoinWindows, joiner func(k K, lv *V1, rv *V2) VR, ks codec.Serde[K], ls codec.Serde[V1], rs codec.Serde[V2]) Stream[K, VR] {
	l.b.checkFunc(joiner != nil, name)
	return streamStreamJoin(l, r, name, "outer-join-streams", w, true, true, joiner, ks, ls, rs)
}

// lateMark asks a join's output node to send the current record to the
// late sink.
type lateMark struct{}

// joinSide is one side's buffer: entries per (key, timestamp), each a
// joined flag and the value bytes.
type joinSide struct {
	ws    *state.WindowStore
	topic string
	span  int64 // how far ahead of a record the other side may be
}

func (s joinSide) open(t, grace, st int64) bool { return t+s.span+1+grace > st }

// joinKeys are one side node's buffers for a record's key as each side's
// store encodes it. A node's record never reaches the same node again (the
// graph has no cycles within a task), so one pair per node serves.
type joinKeys struct{ self, other []byte }

type joinEntry struct {
	joined bool
	value  []byte
}

func decodeEntries(b []byte, topic string) ([]joinEntry, error) {
	var es []joinEntry
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, fmt.Errorf("%w: %s: bad join buffer", ErrStore, topic)
		}
		joined := b[0] == 1
		n, w := binary.Uvarint(b[1:])
		if w <= 0 || uint64(len(b)-1-w) < n {
			return nil, fmt.Errorf("%w: %s: bad join buffer", ErrStore, topic)
		}
		es = append(es, joinEntry{joined: joined, value: b[1+w : 1+w+int(n)]})
		b = b[1+w+int(n):]
	}
	return es, nil
}

// walkEntries calls fn (if not nil) with the index of each entry's joined
// flag in b and the entry's value, after checking the whole buffer.
func walkEntries(b []byte, topic string, fn func(flag int, value []byte) error) error {
	for pass := 0; pass < 2; pass++ {
		for off := 0; off < len(b); {
			if len(b)-off < 2 {
				return fmt.Errorf("%w: %s: bad join buffer", ErrStore, topic)
			}
			n, w := binary.Uvarint(b[off+1:])
			if w <= 0 || uint64(len(b)-off-1-w) < n {
				return fmt.Errorf("%w: %s: bad join buffer", ErrStore, topic)
			}
			if pass == 1 {
				if err := fn(off, b[off+1+w:off+1+w+int(n)]); err != nil {
					return err
				}
			}
			off += 1 + w + int(n)
		}
		if fn == nil {
			return nil
		}
	}
	return nil
}

// appendEntry appends one entry of a join buffer: the joined flag, the
// value's length and the value.
func appendEntry(b []byte, joined bool, value []byte) []byte {
	f := byte(0)
	if joined {
		f = 1
	}
	b = append(b, f)
	b = binary.AppendUvarint(b, uint64(len(value)))
	return append(b, value...)
}

func streamStreamJoin[K, V1, V2, VR any](l Stream[K, V1], r Stream[K, V2], name, op string, w JoinWindows, leftNulls, rightNulls bool, fn func(K, *V1, *V2) VR, ks codec.Serde[K], ls codec.Serde[V1], rs codec.Serde[V2]) Stream[K, VR] {
	b := l.b
	if !b.same(r.b, name) {
		return Stream[K, VR]{b: b, n: &node{}}
	}
	b.checkJoinWindows(w, name)
	b.checkSerde(ks != nil, "key serde", name)
	b.checkSerde(ls != nil, "left value serde", name)
	b.checkSerde(rs != nil, "right value serde", name)
	lin, rin := l.n, r.n
	if l.rekeyed {
		lin = repartition(b, l.n, name+"-left", ks, ls)
	}
	if r.rekeyed {
		rin = repartition(b, r.n, name+"-right", ks, rs)
	}
	lname, rname := name+"-left", name+"-right"
	before, after, grace := w.before.Milliseconds(), w.after.Milliseconds(), w.grace.Milliseconds()

	sides := func(nc *nodeCtx) (left, right joinSide, err error) {
		lkv, ltopic, err := nc.store(lname)
		if err != nil {
			return left, right, err
		}
		rkv, rtopic, err := nc.store(rname)
		if err != nil {
			return left, right, err
		}
		return joinSide{ws: state.NewWindowStore(lkv), topic: ltopic, span: after},
			joinSide{ws: state.NewWindowStore(rkv), topic: rtopic, span: before}, nil
	}

	// arrive handles a record of one side: join it with the other side's
	// open records, then buffer it. pair builds the result from this
	// side's value and the other's bytes.
	// Window stores copy keys into their own, so one buffer per node
	// serves.
	ka, _ := ks.(codec.Appender[K])
	arrive := func(nc *nodeCtx, m msg, self, other joinSide, keys *joinKeys, encode func() ([]byte, error), pair func(k K, ob []byte) (VR, error)) error {
		k := as[K](m.key)
		t := m.ts.UnixMilli()
		now, _ := nc.streamTime()
		st := now.UnixMilli()
		if !self.open(t, grace, st) {
			m.value = lateMark{}
			return nc.forward(m)
		}
		vb, err := encode()
		if err != nil {
			return userErr(name+": encode value", err)
		}
		skb, err := encodeInto(&keys.self, ks, ka, self.topic, k)
		if err != nil {
			return userErr(name+": encode key", err)
		}
		okb, err := encodeInto(&keys.other, ks, ka, other.topic, k)
		if err != nil {
			return userErr(name+": encode key", err)
		}
		// The other side's records within reach: [t-self.span', t+self.span]
		// where a left record reaches right ones after it by `after`.
		found, err := fetchWindows(other.ws.Fetch(okb, t-other.span, t+self.span), other.topic)
		if err != nil {
			return err
		}
		joined := false
		for _, ow := range found {
			if !other.open(ow.start, grace, st) {
				continue
			}
			// ow.value is this call's own copy: joined flags are set in
			// it and it is written back as it is.
			changed := false
			err := walkEntries(ow.value, other.topic, func(flag int, ev []byte) error {
				out, err := pair(k, ev)
				if err != nil {
					return err
				}
				joined = true
				if ow.value[flag] != 1 {
					ow.value[flag], changed = 1, true
				}
				om := m
				om.value = out
				om.ts = msTime(max(t, ow.start))
				return nc.forward(om)
			})
			if err != nil {
				return err
			}
			if changed {
				if err := other.ws.Put(okb, ow.start, ow.value); err != nil {
					return storeErr(other.topic, err)
				}
			}
		}
		prev, _, err := self.ws.Get(skb, t)
		if err != nil {
			return storeErr(self.topic, err)
		}
		if err := walkEntries(prev, self.topic, nil); err != nil {
			return err
		}
		buf := make([]byte, 0, len(prev)+1+binary.MaxVarintLen64+len(vb))
		buf = appendEntry(append(buf, prev...), joined, vb)
		return storeErr(self.topic, self.ws.Put(skb, t, buf))
	}

	// expire emits the null-side results of one side's closed records
	// (if emit) and drops them.
	expire := func(nc *nodeCtx, side joinSide, bound int64, emit bool, null func(k K, vb []byte) (VR, error)) error {
		if emit {
			closed, err := fetchWindows(side.ws.FetchAll(math.MinInt64, bound), side.topic)
			if err != nil {
				return err
			}
			for _, cw := range closed {
				k, err := ks.Decode(side.topic, cw.key)
				if err != nil {
					return fmt.Errorf("%w: %s: decode key: %w", ErrStore, side.topic, err)
				}
				es, err := decodeEntries(cw.value, side.topic)
				if err != nil {
					return err
				}
				for _, e := range es {
					if e.joined {
						continue
					}
					out, err := null(k, e.value)
					if err != nil {
						return err
					}
					if err := nc.forward(msg{key: k, value: out, ts: msTime(cw.start)}); err != nil {
						return err
					}
				}
			}
		}
		return storeErr(side.topic, side.ws.ExpireBefore(bound+1))
	}

	decodeL := func(topic string, b []byte) (V1, error) {
		v, err := ls.Decode(topic, b)
		if err != nil {
			return v, fmt.Errorf("%w: %s: decode value: %w", ErrStore, topic, err)
		}
		return v, nil
	}
	decodeR := func(topic string, b []byte) (V2, error) {
		v, err := rs.Decode(topic, b)
		if err != nil {
			return v, fmt.Errorf("%w: %s: decode value: %w", ErrStore, topic, err)
		}
		return v, nil
	}

	ln := b.add(lname, op+"-left "+w.String(), kindProcessor, []*node{lin}, func(nc *nodeCtx) (proc, error) {
		left, right, err := sides(nc)
		if err != nil {
			return nil, err
		}
		// This side's node closes both sides' windows.
		lDone, rDone := int64(math.MinInt64), int64(math.MinInt64)
		nc.onStreamTime(func(now time.Time) error {
			st := now.UnixMilli()
			if lb := st - after - 1 - grace; lb > lDone {
				lDone = lb
				err := expire(nc, left, lb, leftNulls, func(k K, vb []byte) (VR, error) {
					lv, err := decodeL(left.topic, vb)
					return fn(k, &lv, nil), err
				})
				if err != nil {
					return err
				}
			}
			if rb := st - before - 1 - grace; rb > rDone {
				rDone = rb
				return expire(nc, right, rb, rightNulls, func(k K, vb []byte) (VR, error) {
					rv, err := decodeR(right.topic, vb)
					return fn(k, nil, &rv), err
				})
			}
			return nil
		})
		keys := &joinKeys{}
		return procFunc(func(m msg) error {
			lv := as[V1](m.value)
			return arrive(nc, m, left, right, keys,
				func() ([]byte, error) { return ls.Encode(left.topic, lv) },
				func(k K, rb []byte) (VR, error) {
					rv, err := decodeR(right.topic, rb)
					return fn(k, &lv, &rv), err
				})
		}), nil
	})
	rn := b.add(rname, op+"-right "+w.String(), kindProcessor, []*node{rin}, func(nc *nodeCtx) (proc, error) {
		left, right, err := sides(nc)
		if err != nil {
			return nil, err
		}
		keys := &joinKeys{}
		return procFunc(func(m msg) error {
			rv := as[V2](m.value)
			return arrive(nc, m, right, left, keys,
				func() ([]byte, error) { return rs.Encode(right.topic, rv) },
				func(k K, lb []byte) (VR, error) {
					lv, err := decodeL(left.topic, lb)
					return fn(k, &lv, &rv), err
				})
		}), nil
	})
	b.declareStoreKind(lname, KindWindow, ln)
	b.declareStoreKind(rname, KindWindow, rn)
	b.useStore(ln, rname)
	b.useStore(rn, lname)
	var late *node
	out := b.add(name, op, kindProcessor, []*node{ln, rn}, func(nc *nodeCtx) (proc, error) {
		e := &winEmitter{nc: nc, late: late}
		return procFunc(func(m msg) error {
			if _, ok := m.value.(lateMark); ok {
				return e.lateRecord(m)
			}
			return e.forward(m)
		}), nil
	})
	if w.lateTopic != "" {
		late = lateSink(b, out, name, w.lateTopic)
	}
	return Stream[K, VR]{b: b, n: out}
}

// JoinTables joins two tables by key: the result has a row where both
// have one, and changes whenever either side does. A delete on either
// side deletes the result row (a tombstone downstream). The result is
// kept in a store named name, with values in vrs.
func JoinTables[K, V1, V2, VR any](l Table[K, V1], r Table[K, V2], name string, joiner func(k K, lv V1, rv V2) VR, vrs codec.Serde[VR]) Table[K, VR] {
	l.b.checkFunc(joiner != nil, name)
	return tableTableJoin(l, r, name, "join-tables", vrs, func(k K, lv *V1, rv *V2) (VR, bool) {
		if lv == nil || rv == nil {
			var zero VR
			return zero, false
		}
		return joiner(k, *lv, *rv), true
	})
}

// LeftJoinTables has a row for every left row; found says whether the
// right table has the key (rv is the zero value if not).
func LeftJoinTables[K, V1, V2, VR any](l Table[K, V1], r Table[K, V2], name string, joiner func(k K, lv V1, rv V2, found bool) VR, vrs codec.Serde[VR]) Table[K, VR] {
	l.b.checkFunc(joiner != nil, name)
	return tableTableJoin(l, r, name, "left-join-tables", vrs, func(k K, lv *V1, rv *V2) (VR, bool) {
		if lv == nil {
			var zero VR
			return zero, false
		}
		if rv == nil {
			var zero V2
			return joiner(k, *lv, zero, false), true
		}
		return joiner(k, *lv, *rv, true), true
	})
}

// OuterJoinTables has a row for every key in either table; the missing
// side is nil.
func OuterJoinTables[K, V1, V2, VR any](l Table[K, V1], r Table[K, V2], name string, joiner func(k K, lv *V1, rv *V2) VR, vrs codec.Serde[VR]) Table[K, VR] {
	l.b.checkFunc(joiner != nil, name)
	return tableTableJoin(l, r, name, "outer-join-tables", vrs, func(k K, lv *V1, rv *V2) (VR, bool) {
		if lv == nil && rv == nil {
			var zero VR
			return zero, false
		}
		return joiner(k, lv, rv), true
	})
}

func tableTableJoin[K, V1, V2, VR any](l Table[K, V1], r Table[K, V2], name, op string, vrs codec.Serde[VR], fn func(K, *V1, *V2) (VR, bool)) Table[K, VR] {
	b := l.b
	if !b.same(r.b, name) {
		return Table[K, VR]{b: b, n: &node{}}
	}
	if l.windowed || r.windowed {
		b.errf("%w: %q joins a windowed table", ErrBadOption, name)
	}
	// Each side looks up the other's store: its own store already holds
	// the new value when the change arrives.
	side := func(sideName string, parent *node, otherStore string, onChange func(nc *nodeCtx, m msg) (*VR, error)) *node {
		n := b.add(sideName, op+"-side", kindProcessor, []*node{parent}, func(nc *nodeCtx) (proc, error) {
			return procFunc(func(m msg) error {
				res, err := onChange(nc, m)
				if err != nil {
					return err
				}
				m.value = Change[VR]{New: res}
				return nc.forward(m)
			}), nil
		})
		b.useStore(n, otherStore)
		return n
	}
	result := func(k K, lv *V1, rv *V2) *VR {
		out, ok := fn(k, lv, rv)
		if !ok {
			return nil
		}
		return &out
	}
	ln := side(name+"-left", l.n, r.store, func(nc *nodeCtx, m msg) (*VR, error) {
		kv, topic, err := nc.store(r.store)
		if err != nil {
			return nil, err
		}
		k := as[K](m.key)
		rv, ok, err := WrapKV(kv, topic, r.ks, r.vs).Get(k)
		if err != nil {
			return nil, err
		}
		var rp *V2
		if ok {
			rp = &rv
		}
		return result(k, as[Change[V1]](m.value).New, rp), nil
	})
	rn := side(name+"-right", r.n, l.store, func(nc *nodeCtx, m msg) (*VR, error) {
		kv, topic, err := nc.store(l.store)
		if err != nil {
			return nil, err
		}
		k := as[K](m.key)
		lv, ok, err := WrapKV(kv, topic, l.ks, l.vs).Get(k)
		if err != nil {
			return nil, err
		}
		var lp *V1
		if ok {
			lp = &lv
		}
		return result(k, lp, as[Change[V2]](m.value).New), nil
	})
	return materialize(b, []*node{ln, rn}, name, op, l.ks, vrs, true)
}
