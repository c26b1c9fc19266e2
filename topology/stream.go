package topology

import (
	"context"
	"fmt"
	"time"

	"github.com/weirstream/weir/codec"
)

// Stream is an unbounded sequence of keyed records.
//
// Type-preserving operations are methods; operations that change the key
// or value type are package functions, because Go methods cannot add type
// parameters. Every operation takes a name, unique in the topology, that
// names its node in Describe (and its store, for stateful ones).
//
// Functions passed to operations may not fail; each operation whose
// function might (parsing, validation) has an ...E variant taking a
// function that returns an error. Such an error is handled like a record
// that cannot be decoded: by the source's BadInputPolicy.
type Stream[K, V any] struct {
	b *Builder
	n *node
	// rekeyed is set once the key may have changed since the source, so a
	// stateful operation must repartition first.
	rekeyed bool
}

func (s Stream[K, V]) derive(n *node, rekeyed bool) Stream[K, V] {
	return Stream[K, V]{b: s.b, n: n, rekeyed: rekeyed}
}

// StreamOf reads topic as a stream.
func StreamOf[K, V any](b *Builder, topic string, ks codec.Serde[K], vs codec.Serde[V], opts ...SourceOpt) Stream[K, V] {
	n := source(b, "source-"+topic, topic, "source", ks, vs, false, opts)
	return Stream[K, V]{b: b, n: n}
}

// source adds a source node for topic. Table sources forward a tombstone
// value for nil record values instead of decoding them.
func source[K, V any](b *Builder, name, topic, op string, ks codec.Serde[K], vs codec.Serde[V], table bool, opts []SourceOpt) *node {
	var cfg sourceCfg
	for _, o := range opts {
		if o != nil {
			o.applySource(&cfg)
		}
	}
	api := "StreamOf"
	switch op {
	case "table-source":
		api = "TableOf"
	case "repartition-source":
		api = "repartition"
	case "erasure-source":
		api = "ErasuresOf"
	}
	b.claimTopic(topic, api, "source "+name)
	b.checkSerde(ks != nil, "key serde", name)
	b.checkSerde(vs != nil, "value serde", name)
	n := b.add(name, op, kindSource, nil, func(nc *nodeCtx) (proc, error) {
		return procFunc(nc.forward), nil
	})
	n.topic = topic
	n.policy = cfg.policy
	n.decode = func(ctx context.Context, r *Record) (any, any, error) {
		k, err := codec.DecodeContext(ctx, ks, r.Topic, r.Key)
		if err != nil {
			return nil, nil, fmt.Errorf("decode key: %w", err)
		}
		if table && r.Value == nil {
			return k, tombstone{}, nil
		}
		v, err := codec.DecodeContext(ctx, vs, r.Topic, r.Value)
		if err != nil {
			return nil, nil, fmt.Errorf("decode value: %w", err)
		}
		return k, v, nil
	}
	if cfg.extractor != nil {
		ex, ok := cfg.extractor.(func(K, V, time.Time) time.Time)
		if !ok {
			b.errf("%w: timestamp extractor of %q is %T, want func(%T, %T, time.Time) time.Time",
				ErrBadOption, name, cfg.extractor, *new(K), *new(V))
		} else {
			n.extract = func(k, v any, ts time.Time) time.Time { return ex(as[K](k), as[V](v), ts) }
		}
	}
	if cfg.store != "" && !table && op != "erasure-source" {
		b.errf("%w: WithStoreName on stream source %q", ErrBadOption, name)
	}
	return n
}

// Filter keeps the records for which keep returns true.
func (s Stream[K, V]) Filter(name string, keep func(K, V) bool) Stream[K, V] {
	s.b.checkFunc(keep != nil, name)
	return s.FilterE(name, func(k K, v V) (bool, error) { return keep(k, v), nil })
}

// FilterNot drops the records for which drop returns true.
func (s Stream[K, V]) FilterNot(name string, drop func(K, V) bool) Stream[K, V] {
	s.b.checkFunc(drop != nil, name)
	return s.FilterE(name, func(k K, v V) (bool, error) { return !drop(k, v), nil })
}

// FilterE is Filter with a function that may fail.
func (s Stream[K, V]) FilterE(name string, keep func(K, V) (bool, error)) Stream[K, V] {
	s.b.checkFunc(keep != nil, name)
	n := s.b.add(name, "filter", kindProcessor, []*node{s.n}, func(nc *nodeCtx) (proc, error) {
		return procFunc(func(m msg) error {
			ok, err := keep(as[K](m.key), as[V](m.value))
			if err != nil {
				return userErr(name, err)
			}
			if !ok {
				return nil
			}
			return nc.forward(m)
		}), nil
	})
	return s.derive(n, s.rekeyed)
}

// Peek calls fn for each record and passes it on unchanged.
func (s Stream[K, V]) Peek(name string, fn func(K, V)) Stream[K, V] {
	s.b.checkFunc(fn != nil, name)
	n := s.b.add(name, "peek", kindProcessor, []*node{s.n}, func(nc *nodeCtx) (proc, error) {
		return procFunc(func(m msg) error {
			fn(as[K](m.key), as[V](m.value))
			return nc.forward(m)
		}), nil
	})
	return s.derive(n, s.rekeyed)
}

// Branch splits the stream: each record goes to the first branch whose
// predicate matches, or nowhere if none does (end with a predicate that
// returns true for a default branch). Branch i is named "<name>-<i>".
func (s Stream[K, V]) Branch(name string, preds ...func(K, V) bool) []Stream[K, V] {
	for i, p := range preds {
		s.b.checkFunc(p != nil, fmt.Sprintf("%s-%d", name, i))
	}
	if len(preds) == 0 {
		s.b.errf("%w: Branch %q has no predicates", ErrNilFunc, name)
	}
	bn := s.b.add(name, "branch", kindProcessor, []*node{s.n}, func(nc *nodeCtx) (proc, error) {
		return procFunc(func(m msg) error {
			k, v := as[K](m.key), as[V](m.value)
			for i, p := range preds {
				if p(k, v) {
					return nc.forwardTo(i, m)
				}
			}
			return nil
		}), nil
	})
	out := make([]Stream[K, V], len(preds))
	for i := range preds {
		n := s.b.add(fmt.Sprintf("%s-%d", name, i), "branch-output", kindProcessor, []*node{bn}, func(nc *nodeCtx) (proc, error) {
			return procFunc(nc.forward), nil
		})
		out[i] = s.derive(n, s.rekeyed)
	}
	return out
}

// Merge interleaves this stream with others, in processing order.
func (s Stream[K, V]) Merge(name string, others ...Stream[K, V]) Stream[K, V] {
	parents := []*node{s.n}
	rekeyed := s.rekeyed
	for _, o := range others {
		if s.b.same(o.b, name) {
			parents = append(parents, o.n)
			rekeyed = rekeyed || o.rekeyed
		}
	}
	n := s.b.add(name, "merge", kindProcessor, parents, func(nc *nodeCtx) (proc, error) {
		return procFunc(nc.forward), nil
	})
	return s.derive(n, rekeyed)
}

// To writes the stream to topic. The record keeps the timestamp and
// headers of the input record it came from.
func (s Stream[K, V]) To(topic string, ks codec.Serde[K], vs codec.Serde[V], opts ...SinkOpt) {
	sink(s.b, s.n, topic, ks, vs, sinkValues, false, opts)
}

// ToTombstones writes a tombstone (a record with a nil value) for each
// record's key to topic: on a compacted topic, a delete of the key. An
// erasure request (ErasuresOf) routed here removes the key from an output.
func (s Stream[K, V]) ToTombstones(topic string, ks codec.Serde[K], opts ...SinkOpt) {
	sink(s.b, s.n, topic, ks, codec.Serde[V](nil), sinkTombstones, false, opts)
}

// sinkMode is what a sink writes as the record value.
type sinkMode int

const (
	sinkValues     sinkMode = iota // the value
	sinkChanges                    // a table change's new value; nil for a delete
	sinkTombstones                 // nil
)

// sink adds a node writing to topic, its values as mode says.
func sink[K, V any](b *Builder, parent *node, topic string, ks codec.Serde[K], vs codec.Serde[V], mode sinkMode, internal bool, opts []SinkOpt) *node {
	var cfg sinkCfg
	for _, o := range opts {
		if o != nil {
			o.applySink(&cfg)
		}
	}
	name := cfg.name
	if name == "" {
		name = b.uniqueName("to-" + topic)
	}
	if topic == "" && parent != nil {
		b.opErr("To", ErrNoTopic, fmt.Sprintf("sink of %q", parent.name))
	} else if topic == "" {
		b.opErr("To", ErrNoTopic, "")
	}
	b.checkSerde(ks != nil, "key serde", name)
	b.checkSerde(vs != nil || mode == sinkTombstones, "value serde", name)
	op := "sink"
	switch {
	case internal:
		op = "repartition-sink"
	case mode == sinkTombstones:
		op = "tombstone-sink"
	}
	n := b.add(name, op, kindSink, []*node{parent}, func(nc *nodeCtx) (proc, error) {
		return procFunc(func(m msg) error {
			ctx := nc.t.context()
			kb, err := codec.EncodeContext(ctx, ks, topic, as[K](m.key))
			if err != nil {
				return userErr(name+": encode key", err)
			}
			var vb []byte
			switch mode {
			case sinkTombstones:
			case sinkChanges:
				c := as[Change[V]](m.value)
				if c.New != nil {
					if vb, err = codec.EncodeContext(ctx, vs, topic, *c.New); err != nil {
						return userErr(name+": encode value", err)
					}
				}
			default:
				if vb, err = codec.EncodeContext(ctx, vs, topic, as[V](m.value)); err != nil {
					return userErr(name+": encode value", err)
				}
			}
			return nc.t.emit(topic, kb, vb, m, cfg.partitioner)
		}), nil
	})
	n.topic = topic
	n.internal = internal
	n.customPartitioner = cfg.partitioner != nil
	return n
}

// Map changes key and value. A stateful operation downstream repartitions.
func Map[K, V, KR, VR any](s Stream[K, V], name string, fn func(K, V) (KR, VR)) Stream[KR, VR] {
	s.b.checkFunc(fn != nil, name)
	return MapE(s, name, func(k K, v V) (KR, VR, error) { kr, vr := fn(k, v); return kr, vr, nil })
}

// MapE is Map with a function that may fail.
func MapE[K, V, KR, VR any](s Stream[K, V], name string, fn func(K, V) (KR, VR, error)) Stream[KR, VR] {
	s.b.checkFunc(fn != nil, name)
	n := s.b.add(name, "map", kindProcessor, []*node{s.n}, func(nc *nodeCtx) (proc, error) {
		return procFunc(func(m msg) error {
			k, v, err := fn(as[K](m.key), as[V](m.value))
			if err != nil {
				return userErr(name, err)
			}
			m.key, m.value = k, v
			return nc.forward(m)
		}), nil
	})
	return Stream[KR, VR]{b: s.b, n: n, rekeyed: true}
}

// MapValues changes the value; the key stays, so no repartition follows.
func MapValues[K, V, VR any](s Stream[K, V], name string, fn func(K, V) VR) Stream[K, VR] {
	s.b.checkFunc(fn != nil, name)
	return MapValuesE(s, name, func(k K, v V) (VR, error) { return fn(k, v), nil })
}

// MapValuesE is MapValues with a function that may fail.
func MapValuesE[K, V, VR any](s Stream[K, V], name string, fn func(K, V) (VR, error)) Stream[K, VR] {
	s.b.checkFunc(fn != nil, name)
	n := s.b.add(name, "map-values", kindProcessor, []*node{s.n}, func(nc *nodeCtx) (proc, error) {
		return procFunc(func(m msg) error {
			v, err := fn(as[K](m.key), as[V](m.value))
			if err != nil {
				return userErr(name, err)
			}
			m.value = v
			return nc.forward(m)
		}), nil
	})
	return Stream[K, VR]{b: s.b, n: n, rekeyed: s.rekeyed}
}

// FlatMap turns each record into zero or more records.
func FlatMap[K, V, KR, VR any](s Stream[K, V], name string, fn func(K, V) []KeyValue[KR, VR]) Stream[KR, VR] {
	s.b.checkFunc(fn != nil, name)
	return FlatMapE(s, name, func(k K, v V) ([]KeyValue[KR, VR], error) { return fn(k, v), nil })
}

// FlatMapE is FlatMap with a function that may fail.
func FlatMapE[K, V, KR, VR any](s Stream[K, V], name string, fn func(K, V) ([]KeyValue[KR, VR], error)) Stream[KR, VR] {
	s.b.checkFunc(fn != nil, name)
	n := s.b.add(name, "flat-map", kindProcessor, []*node{s.n}, func(nc *nodeCtx) (proc, error) {
		return procFunc(func(m msg) error {
			kvs, err := fn(as[K](m.key), as[V](m.value))
			if err != nil {
				return userErr(name, err)
			}
			for _, kv := range kvs {
				m.key, m.value = kv.Key, kv.Value
				if err := nc.forward(m); err != nil {
					return err
				}
			}
			return nil
		}), nil
	})
	return Stream[KR, VR]{b: s.b, n: n, rekeyed: true}
}

// FlatMapValues turns each value into zero or more values under the same
// key.
func FlatMapValues[K, V, VR any](s Stream[K, V], name string, fn func(K, V) []VR) Stream[K, VR] {
	s.b.checkFunc(fn != nil, name)
	return FlatMapValuesE(s, name, func(k K, v V) ([]VR, error) { return fn(k, v), nil })
}

// FlatMapValuesE is FlatMapValues with a function that may fail.
func FlatMapValuesE[K, V, VR any](s Stream[K, V], name string, fn func(K, V) ([]VR, error)) Stream[K, VR] {
	s.b.checkFunc(fn != nil, name)
	n := s.b.add(name, "flat-map-values", kindProcessor, []*node{s.n}, func(nc *nodeCtx) (proc, error) {
		return procFunc(func(m msg) error {
			vs, err := fn(as[K](m.key), as[V](m.value))
			if err != nil {
				return userErr(name, err)
			}
			for _, v := range vs {
				m.value = v
				if err := nc.forward(m); err != nil {
					return err
				}
			}
			return nil
		}), nil
	})
	return Stream[K, VR]{b: s.b, n: n, rekeyed: s.rekeyed}
}

// SelectKey sets a new key computed from the record. A stateful operation
// downstream repartitions.
func SelectKey[K, V, KR any](s Stream[K, V], name string, fn func(K, V) KR) Stream[KR, V] {
	s.b.checkFunc(fn != nil, name)
	return SelectKeyE(s, name, func(k K, v V) (KR, error) { return fn(k, v), nil })
}

// SelectKeyE is SelectKey with a function that may fail.
func SelectKeyE[K, V, KR any](s Stream[K, V], name string, fn func(K, V) (KR, error)) Stream[KR, V] {
	s.b.checkFunc(fn != nil, name)
	n := s.b.add(name, "select-key", kindProcessor, []*node{s.n}, func(nc *nodeCtx) (proc, error) {
		return procFunc(func(m msg) error {
			k, err := fn(as[K](m.key), as[V](m.value))
			if err != nil {
				return userErr(name, err)
			}
			m.key = k
			return nc.forward(m)
		}), nil
	})
	return Stream[KR, V]{b: s.b, n: n, rekeyed: true}
}
