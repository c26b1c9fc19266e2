package topology

import (
	"fmt"

	"github.com/weirstream/weir/codec"
)

// GroupedStream is a stream grouped by key, ready to aggregate.
type GroupedStream[K, V any] struct {
	b      *Builder
	n      *node
	ks     codec.Serde[K]
	vs     codec.Serde[V]
	repart bool   // repartition before aggregating
	rname  string // repartition name if fixed by GroupBy; else the aggregate's
	shared *groupShared
}

// groupShared lets several aggregates of one GroupBy share its
// repartition topic.
type groupShared struct{ src *node }

// GroupedTable is a table re-grouped by a new key, ready to aggregate with
// an adder and a subtractor.
type GroupedTable[K, V any] struct {
	b  *Builder
	n  *node // a repartition source forwarding Change[V]
	ks codec.Serde[K]
	vs codec.Serde[V]
}

// GroupByKey groups the stream by its key. The serdes are those of the
// repartition topic (if the key changed upstream) and of the store.
func GroupByKey[K, V any](s Stream[K, V], ks codec.Serde[K], vs codec.Serde[V]) GroupedStream[K, V] {
	return GroupedStream[K, V]{b: s.b, n: s.n, ks: ks, vs: vs, repart: s.rekeyed}
}

// GroupBy groups the stream by a new key. It always repartitions, through
// <app>-<name>-repartition.
func GroupBy[K, V, KR any](s Stream[K, V], name string, fn func(K, V) KR, ks codec.Serde[KR], vs codec.Serde[V]) GroupedStream[KR, V] {
	r := SelectKey(s, name, fn)
	return GroupedStream[KR, V]{b: s.b, n: r.n, ks: ks, vs: vs, repart: true, rname: name, shared: &groupShared{}}
}

// input returns the node an aggregate named name reads from, adding the
// repartition if needed.
func (g GroupedStream[K, V]) input(name string) *node {
	if !g.repart {
		return g.n
	}
	if g.shared != nil {
		if g.shared.src == nil {
			g.shared.src = repartition(g.b, g.n, g.rname, g.ks, g.vs)
		}
		return g.shared.src
	}
	return repartition(g.b, g.n, name, g.ks, g.vs)
}

// Count counts records per key in a store named name. Options: TTL
// (see Aggregate).
func (g GroupedStream[K, V]) Count(name string, opts ...StoreOpt) Table[K, int64] {
	return Aggregate(g, name, func() int64 { return 0 },
		func(_ K, _ V, n int64) (int64, error) { return n + 1, nil }, codec.Int64(), opts...)
}

// Reduce combines the values of each key with fn, starting from the
// first value, in a store named name. Options: TTL (see Aggregate).
func (g GroupedStream[K, V]) Reduce(name string, fn func(agg, v V) (V, error), opts ...StoreOpt) Table[K, V] {
	g.b.checkFunc(fn != nil, name)
	in := g.input(name)
	return aggregateNode(g.b, in, name, "reduce", g.ks, g.vs, opts, func(k K, m msg, st *KVStore[K, V]) (Change[V], bool, error) {
		v := as[V](m.value)
		old, ok, err := st.Get(k)
		if err != nil {
			return Change[V]{}, false, err
		}
		c := Change[V]{}
		nv := v
		if ok {
			c.Old = &old
			if nv, err = fn(old, v); err != nil {
				return c, false, userErr(name, err)
			}
		}
		c.New = &nv
		return c, true, nil
	})
}

// Aggregate folds the values of each key into an aggregate of type VA,
// kept in a store named name. init gives the aggregate of a new key.
// Aggregator functions return an error, handled like bad input.
//
// With TTL(d), a key whose aggregate was not updated for d of stream time
// is deleted, and the table forwards the delete (Change{Old, nil}, at the
// stream time) as if it had been removed; the key's next record starts
// from init again. An error downstream of such a delete stops the task.
func Aggregate[K, V, VA any](g GroupedStream[K, V], name string, init func() VA, add func(k K, v V, agg VA) (VA, error), vas codec.Serde[VA], opts ...StoreOpt) Table[K, VA] {
	g.b.checkFunc(init != nil, name+" init")
	g.b.checkFunc(add != nil, name+" adder")
	in := g.input(name)
	return aggregateNode(g.b, in, name, "aggregate", g.ks, vas, opts, func(k K, m msg, st *KVStore[K, VA]) (Change[VA], bool, error) {
		old, ok, err := st.Get(k)
		if err != nil {
			return Change[VA]{}, false, err
		}
		c := Change[VA]{}
		agg := old
		if ok {
			c.Old = &old
		} else {
			agg = init()
		}
		nv, err := add(k, as[V](m.value), agg)
		if err != nil {
			return c, false, userErr(name, err)
		}
		c.New = &nv
		return c, true, nil
	})
}

// aggregateNode adds a stateful node: step computes the change of the
// key's aggregate; it is stored (New nil deletes) and forwarded. opts
// are the store's (TTL: expired keys are forwarded as deletes).
func aggregateNode[K, VA any](b *Builder, parent *node, name, op string, ks codec.Serde[K], vas codec.Serde[VA], opts []StoreOpt, step func(k K, m msg, st *KVStore[K, VA]) (Change[VA], bool, error)) Table[K, VA] {
	b.checkSerde(ks != nil, "key serde", name)
	b.checkSerde(vas != nil, "aggregate serde", name)
	n := b.add(name, op, kindProcessor, []*node{parent}, func(nc *nodeCtx) (proc, error) {
		kv, topic, err := nc.store(name)
		if err != nil {
			return nil, err
		}
		st := WrapKV(kv, topic, ks, vas)
		nc.onExpire(name, func(kb, vb []byte) error {
			k, err := ks.Decode(topic, kb)
			if err != nil {
				return fmt.Errorf("%w: %s: decode key: %w", ErrStore, topic, err)
			}
			old, err := vas.Decode(topic, vb)
			if err != nil {
				return fmt.Errorf("%w: %s: decode value: %w", ErrStore, topic, err)
			}
			return nc.forward(msg{key: k, value: Change[VA]{Old: &old}, ts: nc.t.streamTime})
		})
		return procFunc(func(m msg) error {
			k := as[K](m.key)
			c, emit, err := step(k, m, st)
			if err != nil || !emit {
				return err
			}
			if c.New == nil {
				err = st.Delete(k)
			} else {
				err = st.Put(k, *c.New)
			}
			if err != nil {
				return err
			}
			m.value = c
			return nc.forward(m)
		}), nil
	})
	b.declareStoreOpts(op, b.declareStore(name, n), n, opts)
	return Table[K, VA]{b: b, n: n, store: name, ks: ks, vs: vas}
}

// GroupTableBy re-keys a table for aggregation. Every update becomes a
// subtraction of the old value under its old key and an addition of the
// new value under its new key (one record if the key bytes are equal),
// sent through <app>-<name>-repartition.
func GroupTableBy[K, V, KR, VR any](t Table[K, V], name string, fn func(K, V) (KR, VR), ks codec.Serde[KR], vs codec.Serde[VR]) GroupedTable[KR, VR] {
	t.b.checkFunc(fn != nil, name)
	t.b.checkSerde(ks != nil, "key serde", name)
	sel := t.b.add(name, "group-table-by", kindProcessor, []*node{t.n}, func(nc *nodeCtx) (proc, error) {
		sinkTopic := t.b.internalTopic(name, "repartition")
		return procFunc(func(m msg) error {
			c := as[Change[V]](m.value)
			k := as[K](m.key)
			var oldK, newK KR
			var oldV, newV VR
			if c.Old != nil {
				oldK, oldV = fn(k, *c.Old)
			}
			if c.New != nil {
				newK, newV = fn(k, *c.New)
			}
			if c.Old != nil && c.New != nil {
				ob, err := ks.Encode(sinkTopic, oldK)
				if err != nil {
					return userErr(name, err)
				}
				nb, err := ks.Encode(sinkTopic, newK)
				if err != nil {
					return userErr(name, err)
				}
				if string(ob) == string(nb) {
					m.key, m.value = newK, Change[VR]{Old: &oldV, New: &newV}
					return nc.forward(m)
				}
			}
			// Subtract before adding, as Kafka Streams does.
			if c.Old != nil {
				m.key, m.value = oldK, Change[VR]{Old: &oldV}
				if err := nc.forward(m); err != nil {
					return err
				}
			}
			if c.New != nil {
				m.key, m.value = newK, Change[VR]{New: &newV}
				return nc.forward(m)
			}
			return nil
		}), nil
	})
	src := repartitionChanges(t.b, sel, name, ks, vs)
	return GroupedTable[KR, VR]{b: t.b, n: src, ks: ks, vs: vs}
}

// Count counts the rows per key, in a store named name.
func (g GroupedTable[K, V]) Count(name string) Table[K, int64] {
	one := func(_ K, _ V, n int64) (int64, error) { return n + 1, nil }
	minus := func(_ K, _ V, n int64) (int64, error) { return n - 1, nil }
	return AggregateTable(g, name, func() int64 { return 0 }, one, minus, codec.Int64())
}

// Reduce keeps an aggregate per key: add folds in a new row value,
// subtract takes out a row's old value. The first value of a key is its
// aggregate.
func (g GroupedTable[K, V]) Reduce(name string, add, subtract func(agg, v V) (V, error)) Table[K, V] {
	g.b.checkFunc(add != nil, name+" adder")
	g.b.checkFunc(subtract != nil, name+" subtractor")
	return aggregateNode(g.b, g.n, name, "table-reduce", g.ks, g.vs, nil, func(k K, m msg, st *KVStore[K, V]) (Change[V], bool, error) {
		in := as[Change[V]](m.value)
		old, ok, err := st.Get(k)
		if err != nil {
			return Change[V]{}, false, err
		}
		var c Change[V]
		var agg *V
		if ok {
			c.Old = &old
			a := old
			agg = &a
		}
		if in.Old != nil && agg != nil {
			a, err := subtract(*agg, *in.Old)
			if err != nil {
				return c, false, userErr(name, err)
			}
			agg = &a
		}
		if in.New != nil {
			a := *in.New
			if agg != nil {
				if a, err = add(*agg, *in.New); err != nil {
					return c, false, userErr(name, err)
				}
			}
			agg = &a
		}
		if agg == nil {
			return c, false, nil
		}
		c.New = agg
		return c, true, nil
	})
}

// AggregateTable keeps an aggregate per key of a re-grouped table: the old
// value of an updated row is subtracted, then the new one added. A delete
// only subtracts.
func AggregateTable[K, V, VA any](g GroupedTable[K, V], name string, init func() VA, add, subtract func(k K, v V, agg VA) (VA, error), vas codec.Serde[VA]) Table[K, VA] {
	g.b.checkFunc(init != nil, name+" init")
	g.b.checkFunc(add != nil, name+" adder")
	g.b.checkFunc(subtract != nil, name+" subtractor")
	return aggregateNode(g.b, g.n, name, "table-aggregate", g.ks, vas, nil, func(k K, m msg, st *KVStore[K, VA]) (Change[VA], bool, error) {
		in := as[Change[V]](m.value)
		old, ok, err := st.Get(k)
		if err != nil {
			return Change[VA]{}, false, err
		}
		var c Change[VA]
		agg := old
		if ok {
			c.Old = &old
		} else {
			agg = init()
		}
		if in.Old != nil {
			if agg, err = subtract(k, *in.Old, agg); err != nil {
				return c, false, userErr(name, err)
			}
		}
		if in.New != nil {
			if agg, err = add(k, *in.New, agg); err != nil {
				return c, false, userErr(name, err)
			}
		}
		c.New = &agg
		return c, true, nil
	})
}
