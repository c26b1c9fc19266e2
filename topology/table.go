package topology

import (
	"encoding/binary"
	"fmt"

	"github.com/weirstream/weir/codec"
)

// Table is a changelog stream seen as the latest value per key, kept in a
// store. Downstream of a table flow Changes (old and new value).
type Table[K, V any] struct {
	b     *Builder
	n     *node // forwards Change[V] values
	store string
	ks    codec.Serde[K]
	vs    codec.Serde[V]
	// windowed tables live in a window or session store, not a key-value
	// one, so table joins cannot look them up.
	windowed bool
}

// Store is the name of the store holding the table, for processors that
// read it (ExistingStore) and for interactive queries.
func (t Table[K, V]) Store() string { return t.store }

// GlobalTable is a table replicated in full to every task, for lookups by
// any field (a product catalog). The runtime fills its store with the
// topic's raw key and value bytes; tombstones delete.
type GlobalTable[K, V any] struct {
	b     *Builder
	store string
	ks    codec.Serde[K]
	vs    codec.Serde[V]
}

// Store is the name of the global table's store.
func (g GlobalTable[K, V]) Store() string { return g.store }

// TableOf reads topic as a table, in a store named after the topic (or
// WithStoreName). A record with a nil value deletes its key.
func TableOf[K, V any](b *Builder, topic string, ks codec.Serde[K], vs codec.Serde[V], opts ...SourceOpt) Table[K, V] {
	store := sourceConfig(opts, topic).store
	src := source(b, "source-"+topic, topic, "table-source", ks, vs, true, opts)
	return materialize(b, []*node{src}, store, "table", ks, vs, false)
}

// GlobalTableOf declares a global table read from topic.
func GlobalTableOf[K, V any](b *Builder, topic string, ks codec.Serde[K], vs codec.Serde[V], opts ...SourceOpt) GlobalTable[K, V] {
	cfg := sourceConfig(opts, topic)
	store := cfg.store
	b.claimTopic(topic, "GlobalTableOf", "global table "+store)
	b.checkSerde(ks != nil, "key serde", store)
	b.checkSerde(vs != nil, "value serde", store)
	if cfg.extractor != nil || cfg.policy != PolicyUnset {
		b.errf("%w: global table %q takes only WithStoreName", ErrBadOption, store)
	}
	if b == nil || b.built != nil {
		b.errf("%w: GlobalTableOf %q", ErrBuilt, topic) // no-op for a nil b
		return GlobalTable[K, V]{b: b, store: store, ks: ks, vs: vs}
	}
	s := b.declareStore(store, nil)
	s.global, s.topic, s.changelog = true, topic, ""
	b.globals = append(b.globals, s)
	return GlobalTable[K, V]{b: b, store: store, ks: ks, vs: vs}
}

// materialize adds a node keeping the latest value per key in store and
// forwarding Change[V]. Its input is either V or tombstone values
// (changes=false), or Change[V] values (changes=true).
func materialize[K, V any](b *Builder, parents []*node, store, op string, ks codec.Serde[K], vs codec.Serde[V], changes bool) Table[K, V] {
	b.checkSerde(ks != nil, "key serde", store)
	b.checkSerde(vs != nil, "value serde", store)
	n := b.add(store, op, kindProcessor, parents, func(nc *nodeCtx) (proc, error) {
		kv, topic, err := nc.store(store)
		if err != nil {
			return nil, err
		}
		st := WrapKV(kv, topic, ks, vs)
		return procFunc(func(m msg) error {
			k := as[K](m.key)
			var nv *V
			switch v := m.value.(type) {
			case tombstone:
			case Change[V]:
				nv = v.New
			default:
				x := as[V](v)
				nv = &x
			}
			old, ok, err := st.Get(k)
			if err != nil {
				return err
			}
			c := Change[V]{New: nv}
			if ok {
				c.Old = &old
			}
			if nv == nil {
				if !ok {
					return nil
				}
				err = st.Delete(k)
			} else {
				err = st.Put(k, *nv)
			}
			if err != nil {
				return err
			}
			m.value = c
			return nc.forward(m)
		}), nil
	})
	b.declareStore(store, n)
	return Table[K, V]{b: b, n: n, store: store, ks: ks, vs: vs}
}

// ToTable keeps the latest value per key of the stream in a store named
// name. If the key changed upstream, it repartitions first through
// <app>-<name>-repartition.
func (s Stream[K, V]) ToTable(name string, ks codec.Serde[K], vs codec.Serde[V]) Table[K, V] {
	parent := s.n
	if s.rekeyed {
		parent = repartition(s.b, s.n, name, ks, vs)
	}
	return materialize(s.b, []*node{parent}, name, "to-table", ks, vs, false)
}

// ToStream emits the new value of every update. Deletes are dropped: use
// Changes, or Table.To, to see them.
func (t Table[K, V]) ToStream(name string) Stream[K, V] {
	n := t.b.add(name, "to-stream", kindProcessor, []*node{t.n}, func(nc *nodeCtx) (proc, error) {
		return procFunc(func(m msg) error {
			c := as[Change[V]](m.value)
			if c.New == nil {
				return nil
			}
			m.value = *c.New
			return nc.forward(m)
		}), nil
	})
	return Stream[K, V]{b: t.b, n: n}
}

// Changes emits every update of t with its old and new value. (A package
// function: as a method, Stream[K, Change[V]] would make Go instantiate
// Table[K, Change[Change[V]]] and so on.)
func Changes[K, V any](t Table[K, V], name string) Stream[K, Change[V]] {
	n := t.b.add(name, "changes", kindProcessor, []*node{t.n}, func(nc *nodeCtx) (proc, error) {
		return procFunc(nc.forward), nil
	})
	return Stream[K, Change[V]]{b: t.b, n: n}
}

// To writes every update of the table to topic; a delete is written as a
// tombstone (nil value), so a compacted topic mirrors the table.
func (t Table[K, V]) To(topic string, ks codec.Serde[K], vs codec.Serde[V], opts ...SinkOpt) {
	sink(t.b, t.n, topic, ks, vs, sinkChanges, false, opts)
}

// repartition routes parent's records through <app>-<name>-repartition
// and returns the source node reading it, the root of a new sub-topology.
func repartition[K, V any](b *Builder, parent *node, name string, ks codec.Serde[K], vs codec.Serde[V]) *node {
	topic := b.internalTopic(name, "repartition")
	sink(b, parent, topic, ks, vs, sinkValues, true, []SinkOpt{WithSinkName(name + "-repartition-sink")})
	src := source(b, name+"-repartition-source", topic, "repartition-source", ks, vs, false, nil)
	src.internal = true
	return src
}

// repartitionChanges is repartition for table changes: both the old and
// the new value travel, so the downstream aggregate can subtract and add.
func repartitionChanges[K, V any](b *Builder, parent *node, name string, ks codec.Serde[K], vs codec.Serde[V]) *node {
	var s codec.Serde[Change[V]]
	if vs != nil {
		s = changeSerde[V]{vs: vs}
	}
	return repartition(b, parent, name, ks, s)
}

// changeSerde encodes a Change for repartition topics:
// flags (1 = old present, 2 = new present), uvarint length of old, old, new.
type changeSerde[V any] struct{ vs codec.Serde[V] }

func (c changeSerde[V]) Encode(topic string, ch Change[V]) ([]byte, error) {
	var flags byte
	var ob, nb []byte
	var err error
	if ch.Old != nil {
		flags |= 1
		if ob, err = c.vs.Encode(topic, *ch.Old); err != nil {
			return nil, err
		}
	}
	if ch.New != nil {
		flags |= 2
		if nb, err = c.vs.Encode(topic, *ch.New); err != nil {
			return nil, err
		}
	}
	out := make([]byte, 0, 1+binary.MaxVarintLen64+len(ob)+len(nb))
	out = append(out, flags)
	out = binary.AppendUvarint(out, uint64(len(ob)))
	out = append(out, ob...)
	return append(out, nb...), nil
}

func (c changeSerde[V]) Decode(topic string, b []byte) (Change[V], error) {
	var ch Change[V]
	if len(b) < 1 || b[0] > 3 {
		return ch, fmt.Errorf("%w: change record flags", codec.ErrMalformed)
	}
	flags := b[0]
	n, w := binary.Uvarint(b[1:])
	if w <= 0 || uint64(len(b)-1-w) < n {
		return ch, fmt.Errorf("%w: change record length", codec.ErrMalformed)
	}
	ob, nb := b[1+w:1+w+int(n)], b[1+w+int(n):]
	if flags&1 != 0 {
		v, err := c.vs.Decode(topic, ob)
		if err != nil {
			return ch, err
		}
		ch.Old = &v
	}
	if flags&2 != 0 {
		v, err := c.vs.Decode(topic, nb)
		if err != nil {
			return ch, err
		}
		ch.New = &v
	}
	return ch, nil
}
